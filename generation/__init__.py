"""Generation through the Sora 2 Videos API and the local simulator (see the generation issue)."""
