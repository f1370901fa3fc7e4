"""Campaign specification, as a user writes it in YAML."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from interphase.schema.design_space import DesignSpace
from interphase.schema.errors import InvalidInputError
from interphase.schema.limits import Description
from interphase.schema.protocol import Protocol
from interphase.schema.target import TargetSpec


class CampaignSpec(BaseModel):
    """What a campaign explores, how cells are cycled and what it aims for.

    Attributes:
        name: Unique campaign name (letters, digits, ``-``, ``_``, ``.``).
        description: One paragraph for people.
        design_space: The variables and their bounds.
        protocol: The default cycling protocol.
        target: The (possibly partial) target.
        sources: Names of the sources the campaign may use.
        seed: Root seed of the campaign.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: Description = ""
    design_space: DesignSpace
    protocol: Protocol
    target: TargetSpec | None = None
    sources: tuple[str, ...] = ()
    seed: int = Field(default=0, ge=0, lt=2**32)

    @model_validator(mode="after")
    def _fixed_in_space(self) -> CampaignSpec:
        if self.target is None:
            return self
        for name, value in self.target.fixed.items():
            try:
                self.design_space.variable(name).coerce(value)
            except InvalidInputError as exc:
                raise InvalidInputError(f"target.fixed.{name}", exc.problem) from None
        for name, (low, high) in self.target.design_bounds.items():
            field = f"target.design_bounds.{name}"
            try:
                variable = self.design_space.variable(name)
                if not hasattr(variable, "lower"):
                    raise InvalidInputError(name, "only numeric variables take bounds")
                variable.coerce(low)
                variable.coerce(high)
            except InvalidInputError as exc:
                raise InvalidInputError(field, exc.problem) from None
        return self
