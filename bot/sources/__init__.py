"""The source watch: fetching every cited page, noticing changes, and the daily job that tells maintainers."""
