"""Pictures of runs and results (matplotlib, imported only when a figure is drawn)."""

from vqaudio.report.curves import plot_loss_curves, read_training_log

__all__ = ["plot_loss_curves", "read_training_log"]
