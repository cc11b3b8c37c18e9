"""Reading and writing media files."""
