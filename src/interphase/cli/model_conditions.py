"""``interphase model predict --at``: the conditions to predict condition-indexed observables at.

A condition-indexed observable (conductivity by temperature) is only backed by data where
the source measures it and where the model was fitted, so a condition must lie within both
ranges; the model interpolates between its training conditions and never extrapolates.
The model's conditions are temperatures in K.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from interphase.cli.output import fmt_number, new_table, stdout_console
from interphase.schema import InvalidInputError
from interphase.schema.units import quantity_to_si

if TYPE_CHECKING:
    from interphase.models.ensemble import Prediction
    from interphase.models.surrogate import Surrogate
    from interphase.sources import Source

CONDITION_UNIT = "K"


def parse_conditions(texts: list[str]) -> list[float]:
    """``--at`` values as temperatures in K, duplicates dropped, in the order given.

    Args:
        texts: Quantities such as ``"25degC"`` or ``"298.15K"``; a bare number is in K.

    Returns:
        The conditions in K.

    Raises:
        InvalidInputError: For text that is not a finite temperature (field ``--at``).
    """
    conditions: list[float] = []
    for text in texts:
        try:
            value = float(text)
        except ValueError:
            value = quantity_to_si(text.strip(), CONDITION_UNIT, "--at")
        if not math.isfinite(value):
            raise InvalidInputError("--at", f"{text!r} is not a finite temperature; "
                                    "write e.g. 25degC or 298.15K")
        if all(abs(value - seen) > 1e-9 for seen in conditions):
            conditions.append(value)
    return conditions


def conditions_for(surrogate: Surrogate, source: Source, given: list[float] | None,
                   model_name: str) -> list[float] | None:
    """The conditions (K) to predict ``source``'s condition-indexed observables at.

    Args:
        surrogate: The model.
        source: The source predicted for.
        given: Conditions from ``--at``, in K; None for the default: the model's training
            conditions within the source's range.
        model_name: The model's short SHA, for messages.

    Returns:
        The conditions; None when there is nothing to predict by condition (the model or
        the source has no condition-indexed observable) and none were asked for.

    Raises:
        InvalidInputError: (field ``--at``) If conditions are asked of a model or source
            without condition-indexed observables, or one lies outside the source's declared
            range or the range the model was fitted on; the message gives the allowed range.
    """
    fitted = surrogate.condition_range
    measured = source.condition_range()
    if measured is not None and measured.unit != CONDITION_UNIT:
        measured = None  # indexed by time, say: not what the model's conditions are
    if given is None:
        if fitted is None or measured is None:
            return None
        grid = [c for c in fitted.values if measured.contains(c)]
        if not grid:
            raise InvalidInputError("--at", f"model {model_name} was fitted on {fitted.describe()}, none of "
                                    f"it within what {source.name} measures, {measured.describe()}")
        return grid
    if fitted is None:
        raise InvalidInputError("--at", f"model {model_name} predicts no condition-indexed observable, "
                                f"only per-cycle ones ({', '.join(surrogate.observables)}); leave out --at")
    if measured is None:
        observables = ", ".join(surrogate.cond_observables)
        raise InvalidInputError("--at", f"source {source.name!r} measures nothing by temperature; the "
                                f"model's condition-indexed observables ({observables}) come from others")
    for value in given:
        if not measured.contains(value):
            raise InvalidInputError("--at", f"{value:g} K is outside the conditions {source.name} measures; "
                                    f"expected {measured.describe()}")
        if not fitted.contains(value):
            raise InvalidInputError("--at", f"{value:g} K is outside the conditions model {model_name} was "
                                    f"fitted on; expected {fitted.describe()}")
    return given


def print_condition_table(prediction: Prediction, surrogate: Surrogate, conditions: list[float],
                          title: str) -> None:
    """One row per condition and condition-indexed observable of the first design's prediction.

    Args:
        prediction: From ``Surrogate.predict_conditions``: ``1 x C x Oc`` arrays.
        surrogate: The model (names the ``Oc`` columns).
        conditions: The ``C`` conditions in K, in the prediction's order.
        title: The table's title.
    """
    from interphase.models.evaluation import interval

    lo, hi = interval(prediction.quantiles, prediction.levels, 0.05, 0.95)
    values = (prediction.mean, prediction.aleatoric_std, prediction.epistemic_std, lo, hi)
    table = new_table(title, "condition [K]", "observable", "mean", "aleatoric std", "epistemic std",
                      "5 %", "95 %",
                      numeric=("condition [K]", "mean", "aleatoric std", "epistemic std", "5 %", "95 %"),
                      unbroken=("observable",))
    last = len(surrogate.cond_observables) - 1
    for c, condition in enumerate(conditions):
        for o, name in enumerate(surrogate.cond_observables):
            table.add_row(fmt_number(condition, 6), name, *(fmt_number(float(v[0, c, o])) for v in values),
                          end_section=o == last)
    stdout_console().print(table)
