"""``neuralkg-distil sweep``: a wandb-format sweep file run locally and offline, without an account.

config (read and check the YAML), space (grid expansion, seeded random sampling), plan (each
point's effective flags, its run id, duplicates), runner (one training per run in a subprocess,
skipping finished runs, resuming killed ones), report (the results table), cli (the sub-command).
"""
