"""Malformed-input cases of model predict, merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

from support.malformed import Case

CASES: dict[str, Case] = {
    # --at is read before the store is opened, so these need no fitted model.
    "model-predict-at-not-a-quantity": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "warm"),
        "--at: cannot read 'warm' as a number with a unit"),
    "model-predict-at-not-a-temperature": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "1 m"),
        "--at: '1 m' has the wrong dimension; expected a value in K"),
    "model-predict-at-not-finite": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "nan"),
        "--at: 'nan' is not a finite temperature"),
    "model-predict-at-empty": Case(
        ("model", "predict", "--source", "hte-robot", "--at", ""),
        "--at: cannot read '' as a number with a unit"),
    "model-predict-no-model": Case(
        ("model", "predict", "--source", "hte-robot", "--at", "25degC"),
        "--model: the store holds no model yet; run 'interphase model fit'"),
}
