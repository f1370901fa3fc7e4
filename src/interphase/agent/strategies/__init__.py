"""The built-in strategies; importing this package registers them (see ``agent.strategy``).

- ``trial-and-error``: Sobol designs of the target's region, full-length tests at the highest
  fidelity only;
- ``gp-qlogei``: BoTorch ``SingleTaskGP`` on the objective at the highest fidelity, ``qLogEI``;
- ``mf-gp``: BoTorch ``SingleTaskMultiFidelityGP`` with cost-aware ``qMultiFidelityMaxValueEntropy``;
- ``interphase``: the generative model and the cost-aware multi-fidelity agent.
"""

from __future__ import annotations

from interphase.agent.strategies import gp_qlogei, interphase_agent, mf_gp, trial_and_error  # noqa: F401
