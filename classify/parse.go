package classify

import (
	"bytes"
	"mime"
	"strings"
)

// Work bounds: classification reads at most this much of any message, so a
// hostile or broken input costs bounded time and memory.
const (
	maxInputBytes  = 4 << 20   // raw bytes examined at all
	maxHeaderBytes = 256 << 10 // one header block
	maxFields      = 1000      // header fields kept per block
	maxPartText    = 64 << 10  // decoded text kept per body part
	maxParts       = 50        // MIME parts visited per message
	maxDepth       = 8         // multipart nesting followed
)

// field is one header field: its lower-cased name and decoded value.
type field struct {
	name  string
	value string
	raw   string // the unfolded value before RFC 2047 decoding
}

// header is a header block in order of appearance.
type header []field

// get returns the decoded value of the first field called name.
func (h header) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// getRaw returns the undecoded value of the first field called name.
func (h header) getRaw(name string) string {
	for _, f := range h {
		if f.name == name {
			return f.raw
		}
	}
	return ""
}

// has reports whether a field called name is present.
func (h header) has(name string) bool {
	for _, f := range h {
		if f.name == name {
			return true
		}
	}
	return false
}

// all returns the decoded values of every field called name.
func (h header) all(name string) []string {
	var out []string
	for _, f := range h {
		if f.name == name {
			out = append(out, f.value)
		}
	}
	return out
}

// part is one leaf of the MIME tree, decoded as far as classification needs.
type part struct {
	mediaType string            // lower-case type/subtype
	params    map[string]string // Content-Type parameters
	header    header
	text      string // decoded text for text/* and message/*-status parts
	embedded  header // the headers of a message/rfc822 or text/rfc822-headers part
	html      bool
}

// message is a parsed message: its header, top-level type and leaf parts.
type message struct {
	header    header
	mediaType string
	params    map[string]string
	parts     []part
}

// parseMessage parses raw leniently: an mbox "From " line and stray blank
// lines before the header are skipped, CRLF and LF both end lines.
func parseMessage(raw []byte) message {
	raw = capBytes(raw, maxInputBytes)
	raw = skipPreamble(raw)
	h, body := splitHeader(raw)
	m := message{header: h}
	m.mediaType, m.params = contentType(h)
	w := walker{}
	w.walk(h, body, 0)
	m.parts = w.parts
	return m
}

// skipPreamble drops leading blank lines and an mbox "From " separator.
func skipPreamble(raw []byte) []byte {
	for i := 0; i < 4; i++ {
		switch {
		case bytes.HasPrefix(raw, []byte("\r\n")):
			raw = raw[2:]
		case bytes.HasPrefix(raw, []byte("\n")):
			raw = raw[1:]
		case bytes.HasPrefix(raw, []byte("From ")):
			raw = afterLine(raw)
		default:
			return raw
		}
	}
	return raw
}

func afterLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return nil
}

// splitHeader parses the header block of b and returns it with the body.
// A header without a blank line after it ends at the first line that is
// neither a field nor a continuation.
func splitHeader(b []byte) (header, []byte) {
	var h header
	var cur []byte
	rest := b
	flush := func() {
		if len(cur) > 0 && len(h) < maxFields {
			if f, ok := parseField(cur); ok {
				h = append(h, f)
			}
		}
		cur = nil
	}
	for used := 0; len(rest) > 0; {
		line, next := cutLine(rest)
		if len(line) == 0 {
			rest = next
			break
		}
		used += len(rest) - len(next)
		if used > maxHeaderBytes {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				cur = append(append(cur, ' '), bytes.TrimSpace(line)...)
			}
		} else if isFieldLine(line) {
			flush()
			cur = append([]byte(nil), line...)
		} else {
			break // body text without the separating blank line
		}
		rest = next
	}
	flush()
	return h, rest
}

// cutLine returns the first line of b without its line ending, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimRight(b, "\r"), nil
	}
	return bytes.TrimRight(b[:i], "\r"), b[i+1:]
}

// isFieldLine reports whether line looks like "Name: value" (RFC 5322
// section 2.2: printable ASCII name without spaces, then a colon).
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return len(name) > 0
}

func parseField(line []byte) (field, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return field{}, false
	}
	name := strings.ToLower(string(bytes.TrimSpace(line[:i])))
	rawValue := bytes.TrimSpace(line[i+1:])
	return field{name: name, value: decodeHeaderValue(rawValue), raw: toUTF8(rawValue, "")}, true
}

// contentType parses Content-Type, defaulting to text/plain (RFC 2045
// section 5.2) and keeping whatever parameters parse when the rest is bad.
func contentType(h header) (string, map[string]string) {
	v := h.getRaw("content-type")
	if v == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = parseMediaTypeLeniently(v)
	}
	return strings.ToLower(mt), params
}

// parseMediaTypeLeniently splits "type/sub; a=b; c="d"" by hand, for the
// values mime.ParseMediaType rejects (duplicate or malformed parameters).
func parseMediaTypeLeniently(v string) (string, map[string]string) {
	params := map[string]string{}
	items := strings.Split(v, ";")
	for _, it := range items[1:] {
		k, val, ok := strings.Cut(it, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := params[k]; !dup && k != "" {
			params[k] = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	mt := strings.TrimSpace(items[0])
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	return mt, params
}

// walker collects the leaves of a MIME tree within the work bounds.
type walker struct {
	parts   []part
	visited int
}

func (w *walker) walk(h header, body []byte, depth int) {
	if w.visited >= maxParts {
		return
	}
	w.visited++
	mt, params := contentType(h)
	if strings.HasPrefix(mt, "multipart/") && depth < maxDepth {
		if w.walkMultipart(body, params["boundary"], depth) {
			return
		}
		mt = "text/plain" // multipart without usable boundaries: read as text
	}
	w.parts = append(w.parts, leaf(h, mt, params, body))
}

// walkMultipart visits the body parts of a multipart entity (RFC 2046
// section 5.1). A missing boundary parameter is guessed from the body.
func (w *walker) walkMultipart(body []byte, boundary string, depth int) bool {
	if boundary == "" {
		boundary = guessBoundary(body)
	}
	if boundary == "" {
		return false
	}
	chunks := splitMultipart(body, boundary)
	if len(chunks) == 0 {
		return false
	}
	for _, c := range chunks {
		ph, pb := splitPartHeader(c)
		w.walk(ph, pb, depth+1)
	}
	return true
}

// splitPartHeader separates a body part's header; a part that starts with
// text instead of fields has none (RFC 2046 section 5.1.1: implicit
// text/plain).
func splitPartHeader(c []byte) (header, []byte) {
	first, _ := cutLine(c)
	if len(first) > 0 && !isFieldLine(first) {
		return nil, c
	}
	return splitHeader(c)
}

// splitMultipart cuts body at delimiter lines "--boundary", stopping at the
// close delimiter "--boundary--" or at maxParts.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var chunks [][]byte
	pos := indexDelimiter(body, delim, 0)
	for pos >= 0 && len(chunks) < maxParts {
		after := body[pos+len(delim):]
		if bytes.HasPrefix(after, []byte("--")) {
			break
		}
		start := len(body) - len(afterLine(after))
		if start > len(body) || afterLine(after) == nil {
			break
		}
		next := indexDelimiter(body, delim, start)
		end := next
		if next < 0 {
			end = len(body)
		}
		chunks = append(chunks, bytes.TrimRight(body[start:end], "\r\n"))
		pos = next
	}
	return chunks
}

// indexDelimiter finds delim at the start of a line at or after from.
func indexDelimiter(body, delim []byte, from int) int {
	for from <= len(body) {
		i := bytes.Index(body[from:], delim)
		if i < 0 {
			return -1
		}
		at := from + i
		if at == 0 || body[at-1] == '\n' {
			return at
		}
		from = at + 1
	}
	return -1
}

// guessBoundary picks the first "--token" line that occurs at least twice
// near the start of the body, for multiparts whose boundary parameter was
// lost. Only a few candidates are tried, so the guess costs linear time.
func guessBoundary(body []byte) string {
	window := capBytes(body, maxPartText)
	rest := window
	for tries := 0; len(rest) > 0 && tries < 8; {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) < 4 || !bytes.HasPrefix(line, []byte("--")) || bytes.ContainsAny(line, " \t") {
			continue
		}
		tries++
		b := string(bytes.TrimSuffix(line[2:], []byte("--")))
		if bytes.Count(window, []byte("--"+b)) >= 2 {
			return b
		}
	}
	return ""
}

// leaf decodes one non-multipart entity as far as classification needs.
func leaf(h header, mt string, params map[string]string, body []byte) part {
	p := part{mediaType: mt, params: params, header: h}
	cte := h.get("content-transfer-encoding")
	switch {
	case mt == "message/rfc822" || mt == "message/global" || mt == "text/rfc822-headers" ||
		mt == "message/rfc822-headers":
		p.embedded, _ = splitHeader(skipPreamble(decodeTransfer(body, cte, maxHeaderBytes)))
	case strings.HasPrefix(mt, "text/") || isReportBody(mt):
		p.text = toUTF8(decodeTransfer(body, cte, maxPartText), params["charset"])
		if mt == "text/html" {
			p.text, p.html = htmlToText(p.text), true
		}
	}
	return p
}

// isReportBody reports the machine-readable report types (RFC 3464, 6533,
// 8098, 5965) whose text the classifier reads.
func isReportBody(mt string) bool {
	switch mt {
	case "message/delivery-status", "message/global-delivery-status",
		"message/disposition-notification", "message/global-disposition-notification",
		"message/feedback-report":
		return true
	}
	return false
}
