"""The command line: `visabot ...` (click), including the offline terminal chat."""
