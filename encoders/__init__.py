"""Turn overviews and reviews (sentence-transformers) and posters (open_clip) into L2-normalised vectors."""
