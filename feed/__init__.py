"""Videos, likes, comments, views, remix lineage and the ranked, paced feed (see the feed issue)."""
