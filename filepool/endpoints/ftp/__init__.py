"""FTP and FTPS: the control session and its one reply reader (wire), listings, reading and writing files, and the
event loop that keeps many small downloads in flight on one thread."""
