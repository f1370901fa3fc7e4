"""The closed loop: campaign runs, their event clock, strategies and the decision log.

``plan.resolve`` checks a run configuration against its world; ``engine`` runs the campaign's
state machine (propose -> queue -> run -> collect -> refit -> check stop) entirely in the store,
so that ``interphase resume`` continues after any crash; ``strategies/`` holds trial and error,
the BoTorch baselines and the interphase agent.
"""
