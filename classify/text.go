package classify

// Text returns a message's readable text, decoded to UTF-8: its text/plain
// parts, or its HTML parts turned into text when it has no plain part. It
// reads raw as leniently as Classify does; a follow-up quotes the original
// email with it.
func Text(raw []byte) string { return bodyText(parseMessage(raw).parts) }
