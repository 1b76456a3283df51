"""Pictures of runs and results (matplotlib, imported only when a figure is drawn)."""

from vqaudio.report.benchmarks import write_benchmark_report
from vqaudio.report.compare import compare_runs
from vqaudio.report.curves import plot_loss_curves, read_training_log
from vqaudio.report.html import write_run_report
from vqaudio.report.training import plot_codebook, plot_learning_rate

__all__ = [
    "compare_runs",
    "plot_codebook",
    "plot_learning_rate",
    "plot_loss_curves",
    "read_training_log",
    "write_benchmark_report",
    "write_run_report",
]
