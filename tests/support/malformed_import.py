"""Malformed-input cases of import and generic CSV, merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

from support.malformed import Case

ARBIN_HEADER = ("Data_Point,Test_Time,DateTime,Step_Time,Step_Index,Cycle_Index,Current,Voltage,"
                "Charge_Capacity,Discharge_Capacity,Internal_Resistance,Temperature\n")
ARBIN_ROW = "{n},{t},{t},0,1,1,{i},3.5,0,0,0.02,25\n"
GOOD_CSV = "t;i;v;c\n0;1;3.5;1\n60;1;3.6;1\n120;-1;3.5;2\n"
GOOD_MAP = ("--map", "time=t", "--map", "current=i", "--map", "voltage=v", "--map", "cycle=c")


def arbin_rows(*currents: str) -> str:
    return ARBIN_HEADER + "".join(ARBIN_ROW.format(n=n, t=10 * n, i=i)
                                  for n, i in enumerate(currents, start=1))


def import_(files_: dict[str, str | bytes], *paths: str, expected: str,
            options: tuple[str, ...] = ()) -> Case:
    argv = ("import", *options, *(p if p.startswith("{") else f"{{dir}}/{p}" for p in paths))
    return Case(argv, expected, files_)


def mapped(files_: dict[str, str | bytes], expected: str, *options: str,
           path: str = "cells.csv") -> Case:
    return import_(files_, path, expected=expected, options=("--format", "csv", *options))


CASES: dict[str, Case] = {
    "import-arbin-header-only": import_({"header.csv": ARBIN_HEADER}, "header.csv",
                                        expected="header.csv: has a header but no data rows"),
    "import-arbin-text-in-current": import_(
        {"cell.csv": arbin_rows("1.0", "abc", "1.0")}, "cell.csv",
        expected="cell.csv: column 'Current', data row 2: 'abc' is not a number"),
    "import-arbin-infinite-voltage": import_(
        {"cell.csv": arbin_rows("1.0", "1.0").replace(",3.5,", ",inf,", 1)}, "cell.csv",
        expected="column 'Voltage', data row 1: is not finite"),
    "import-arbin-duplicate-header": import_(
        {"cell.csv": arbin_rows("1.0").replace("Voltage,", "Voltage,Voltage,", 1)
         .replace(",3.5,", ",3.5,3.5,")}, "cell.csv",
        expected="header names column 'Voltage' 2 times"),
    "import-arbin-time-backwards": import_(
        {"cell.csv": ARBIN_HEADER + ARBIN_ROW.format(n=1, t=50, i=1)
         + ARBIN_ROW.format(n=2, t=10, i=1)}, "cell.csv",
        expected="column 'DateTime', data row 2: time goes back from 50 to 10"),
    "import-maccor-bad-state": import_(
        {"run.001": "header\nRec#\tCyc#\tStep\tTest (Min)\tAmps\tVolts\tState\n"
                    "1\t0\t1\t0\t0\t3.3\tR\n2\t0\t1\t1\t0\t3.3\tX\n"}, "run.001",
        expected="column 'State', data row 2: 'X' is not a Maccor state"),
    "import-maccor-header-only": import_(
        {"run.001": "header\nRec#\tCyc#\tStep\tTest (Min)\tAmps\tVolts\tState\n"}, "run.001",
        expected="run.001: has a header but no data rows"),
    "import-csv-without-map": mapped({"cells.csv": GOOD_CSV}, "--map: --format csv needs a "
                                                              "column map"),
    "import-map-without-csv": import_({}, "{arbin}", options=GOOD_MAP,
                                      expected="--map: a column map is read with --format csv "
                                               "only, not auto"),
    "import-map-missing-keys": mapped({"cells.csv": GOOD_CSV},
                                      "--map: no column mapped to voltage, cycle; required keys: "
                                      "time, current, voltage, cycle; allowed keys: time,",
                                      "--map", "time=t", "--map", "current=i"),
    "import-map-unknown-key": mapped({"cells.csv": GOOD_CSV}, "unknown key 'volts'; required "
                                                              "keys", *GOOD_MAP, "--map",
                                     "volts=v"),
    "import-map-no-equals": mapped({"cells.csv": GOOD_CSV}, "--map: expected KEY=COLUMN or "
                                                            "KEY=COLUMN[UNIT], got 'time'",
                                   "--map", "time"),
    "import-map-empty-column": mapped({"cells.csv": GOOD_CSV}, "--map time: no column name",
                                      *GOOD_MAP, "--map", "time=[s]"),
    "import-map-unknown-unit": mapped({"cells.csv": GOOD_CSV}, "--map time: unknown unit "
                                                               "'fortnights_x'",
                                      *GOOD_MAP, "--map", "time=t[fortnights_x]"),
    "import-map-wrong-dimension": mapped({"cells.csv": GOOD_CSV}, "--map current: unit 'V' is "
                                                                  "not a unit of current",
                                         *GOOD_MAP, "--map", "current=i[V]"),
    "import-map-unit-on-cycle": mapped({"cells.csv": GOOD_CSV}, "--map cycle: cycle is a plain "
                                                                "integer column",
                                       *GOOD_MAP, "--map", "cycle=c[s]"),
    "import-map-column-absent": mapped({"cells.csv": GOOD_CSV}, "cells.csv: column 'volts' "
                                                                "mapped to voltage is not in "
                                                                "the header",
                                       *GOOD_MAP, "--map", "voltage=volts"),
    "import-map-file-missing-key": mapped(
        {"cells.csv": GOOD_CSV, "map.yaml": "columns:\n  time: t\n  current: i\n  cycle: c\n"},
        "map.yaml.columns: no column mapped to voltage", "--map-file", "{dir}/map.yaml"),
    "import-map-file-unknown-field": mapped(
        {"cells.csv": GOOD_CSV, "map.yaml": "columns: {time: t}\ndelimiter: ';'\n"},
        "map.yaml.delimiter: unknown field", "--map-file", "{dir}/map.yaml"),
    "import-map-file-bad-sign": mapped(
        {"cells.csv": GOOD_CSV,
         "map.yaml": "columns: {time: t, current: i, voltage: v, cycle: c}\n"
                     "current_sign: up\n"},
        "map.yaml.current_sign", "--map-file", "{dir}/map.yaml"),
    "import-map-file-not-yaml": mapped(
        {"cells.csv": GOOD_CSV, "map.yaml": "columns: [unclosed\n"}, "map.yaml: ",
        "--map-file", "{dir}/map.yaml"),
    "import-map-file-absent": mapped({"cells.csv": GOOD_CSV}, "nowhere.yaml: file not found",
                                     "--map-file", "{dir}/nowhere.yaml"),
    "import-current-sign-without-map": import_(
        {}, "{arbin}", options=("--current-sign", "charge-negative"),
        expected="--current-sign: applies to --format csv with a column map"),
    "import-current-sign-unknown": mapped({"cells.csv": GOOD_CSV}, "'up' is not one of",
                                          *GOOD_MAP, "--current-sign", "up"),
    "import-csv-header-only": mapped({"cells.csv": "t;i;v;c\n\n \n"},
                                     "cells.csv: has a header but no data rows", *GOOD_MAP),
    "import-csv-binary": mapped({"cells.csv": b"\x00\x01\x02" * 50}, "is not a text CSV file",
                                *GOOD_MAP),
    "import-csv-text-cell": mapped({"cells.csv": GOOD_CSV.replace("3.6", "3,6")},
                                   "column 'v', data row 2: '3,6' is not a number", *GOOD_MAP),
    "import-csv-cycle-backwards": mapped({"cells.csv": GOOD_CSV.replace(";2\n", ";0\n")},
                                         "column 'c', data row 3: the cycle index goes back",
                                         *GOOD_MAP),
    "import-csv-huge-current": mapped({"cells.csv": GOOD_CSV.replace(";-1;", ";-1e300;")},
                                      "column 'i', data row 3: -1e+300 A is outside the "
                                      "plausible range", *GOOD_MAP),
    "import-nominal-negative": import_({}, "{arbin}", options=("--nominal-capacity", "-2"),
                                       expected="--nominal-capacity: -2.0 is not allowed"),
    "import-nominal-nan": import_({}, "{arbin}", options=("--nominal-capacity", "nan"),
                                  expected="--nominal-capacity: nan is not allowed"),
    "import-map-with-parquet": import_({}, "{arbin}", options=("--format", "parquet", *GOOD_MAP),
                                       expected="--map: applies to cycler files"),
}
