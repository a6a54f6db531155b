package writeback

// ParseNote exposes parseNote to the external tests.
var ParseNote = parseNote
