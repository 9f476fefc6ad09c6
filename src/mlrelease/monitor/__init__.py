"""Monitoring: data drift, outlier bursts and slices gone bad, from the server's request logs.

- ``stats``: the exact statistics (KS, Wasserstein, PSI, chi-square), one sort per column.
- ``drift``: verdicts from effect sizes and corrected p-values, thresholds per column.
"""
