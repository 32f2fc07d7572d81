"""`pertinent demo`: a complete, offline walk through the product on generated or MovieLens data."""
