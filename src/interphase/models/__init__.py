"""The semi-supervised deep generative model over designs and cycle trajectories.

* :mod:`.features`, :mod:`.dataset`: the store's records as tensors (:mod:`.batch`).
* :mod:`.vae`, :mod:`.dynamics`, :mod:`.heads`, :mod:`.physics`, :mod:`.generative`: one
  network: a VAE over designs, latent Markov dynamics over cycles driven by the
  protocol's controls, emission heads with physical bounds, a source embedding for
  multi-fidelity data, prefix filtering and a feasibility head.
* :mod:`.training`, :mod:`.ensemble`: a bootstrapped deep ensemble (epistemic
  uncertainty) with post-hoc variance calibration.
* :mod:`.surrogate`: what the agent and the CLI use (fit, predict, sample, save to the store).
* :mod:`.metrics`, :mod:`.baselines`, :mod:`.evaluation`: held-out quality and baselines.
* :mod:`.botorch_adapter`: the ensemble as a BoTorch model (imports BoTorch; import it directly).

Importing this package imports nothing heavy.
"""

from __future__ import annotations
