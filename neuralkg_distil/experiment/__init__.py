"""``neuralkg-distil experiment``: a YAML grid of teacher / no-DS / DS / ablation runs, resumable."""
