"""anbu's host side: the alarm engine (a pure core) and the I/O around it."""
