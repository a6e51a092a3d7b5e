package imapsync

import (
	"bytes"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
)

// Message is one message as fetched.
type Message struct {
	UID          uint32
	InternalDate time.Time
	Size         int64
	Flags        []string
	// Header is the raw header block: phase 1 fetches only the fields in
	// HeaderFields; phase 2 replaces it by the full header (BODY.PEEK[HEADER]).
	Header []byte
	// Raw is set by phase 2 only (nil otherwise): a "skeleton" MIME message
	// with the full header and, per MIME part, its MIME header and only the
	// content Outreach needs (see skeleton.go). It parses as MIME and keeps
	// the original boundaries.
	Raw []byte

	// Parsed from Header (RFC 5322, RFC 2047 decoded; Message-IDs without <>).
	MessageID  string
	InReplyTo  []string
	References []string
	From       string // address, lower-cased
	FromName   string
	To, Cc     []string // addresses, lower-cased
	Subject    string
	Date       time.Time
	// ParseError is set when the header (or skeleton) could not be parsed
	// completely; the fields that could be parsed are still set and the
	// message is still returned, never dropped.
	ParseError string

	fields []headerField // Header's fields, unfolded, for Get
}

// Get returns the first value of the header field named k (any case),
// unfolded and trimmed, or "" when Header has no such field.
func (m *Message) Get(k string) string { return first(values(m.fields, k)) }

// HeaderUnreadable reports that no field could be read from Header.
func (m *Message) HeaderUnreadable() bool { return len(m.fields) == 0 }

// HeaderFields is the phase-1 header list (BODY.PEEK[HEADER.FIELDS (...)],
// RFC 3501 section 6.4.5): what threading, addressing and the relevance
// check need, including the fields that mark auto-replies (RFC 3834),
// reports (RFC 6522) and bounces, and those of list and bulk mail (RFC 2919,
// RFC 2369), which is not an answer to anyone. Every field more costs on both sides for
// every message, and the server reads each message's file the first time
// a field is asked for; phase 2 fetches the full header of the messages
// that matter.
var HeaderFields = []string{
	"Message-ID", "In-Reply-To", "References", "From", "To", "Cc", "Date", "Subject",
	"Auto-Submitted", "X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress",
	"X-MS-Exchange-Inbox-Rules-Loop", "Return-Path", "Content-Type", "X-Failed-Recipients",
	"List-Id", "List-Unsubscribe", "Precedence",
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// addressParser parses RFC 5322 address lists with the same decoder.
var addressParser = &mail.AddressParser{WordDecoder: wordDecoder}

// headerField is one unfolded header line.
type headerField struct{ key, value string }

// parseHeader fills m's parsed fields from m.Header. It is lenient: a bad
// line or field is skipped and noted in ParseError.
func (m *Message) parseHeader() {
	fields, problems := splitHeader(m.Header)
	m.fields = fields
	if len(fields) == 0 {
		problems = append(problems, "header: no fields (RFC 5322 requires From and Date)")
	}
	get := func(k string) []string { return values(fields, k) }
	m.MessageID = firstMsgID(get("Message-Id"))
	m.InReplyTo = msgIDs(get("In-Reply-To"))
	m.References = msgIDs(get("References"))
	m.Subject = decodeText(first(get("Subject")))
	m.From, m.FromName, problems = parseFrom(get("From"), problems)
	m.To, problems = parseAddrs("to", get("To"), problems)
	m.Cc, problems = parseAddrs("cc", get("Cc"), problems)
	m.Date, problems = parseDate(first(get("Date")), problems)
	m.ParseError = strings.Join(problems, "; ")
}

// splitHeader unfolds an RFC 5322 section 2.2 header block into fields.
// Lines end in LF or CRLF; the values are substrings of one copy of h.
func splitHeader(h []byte) ([]headerField, []string) {
	var problems []string
	fields := make([]headerField, 0, len(HeaderFields))
	for rest := string(h); ; {
		line, more, found := strings.Cut(rest, "\n")
		if found {
			line = strings.TrimSuffix(line, "\r")
		}
		rest = more
		switch {
		case line == "":
			if strings.TrimSpace(rest) != "" {
				problems = append(problems, "header: blank line inside the header")
			}
			return fields, problems
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) == 0 {
				problems = append(problems, "header: continuation line before any field")
				continue
			}
			fields[len(fields)-1].value += " " + strings.TrimSpace(line)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || k == "" || strings.ContainsAny(k, " \t") {
				problems = append(problems, fmt.Sprintf("header: malformed line %q", truncate(line, 60)))
				continue
			}
			fields = append(fields, headerField{key: k, value: strings.TrimSpace(v)})
		}
	}
}

// values returns every value of the field named k (case-insensitive).
func values(fields []headerField, k string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.key, k) {
			out = append(out, f.value)
		}
	}
	return out
}

// first returns vs[0] or "".
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// truncate shortens s for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// decodeText decodes RFC 2047 encoded words, keeping the raw text on error.
func decodeText(s string) string {
	out, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}

// msgIDs returns the RFC 5322 section 3.6.4 msg-ids in the given field
// values, without <>. Values without brackets are split on white space
// (seen in the wild).
func msgIDs(vals []string) []string {
	var out []string
	for _, v := range vals {
		n := len(out)
		out = appendBracketed(out, v)
		if len(out) == n {
			for _, tok := range strings.Fields(v) {
				out = append(out, strings.Trim(tok, "<>,"))
			}
		}
	}
	return out
}

// appendBracketed appends every non-empty "<...>" token of v without the
// brackets (no white space or nested "<" inside).
func appendBracketed(out []string, v string) []string {
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return out
		}
		v = v[i+1:]
		j := strings.IndexAny(v, "<> \t")
		if j < 0 {
			return out
		}
		if v[j] == '>' && j > 0 {
			out = append(out, v[:j])
		}
		v = v[j:]
	}
}

// firstMsgID returns the first Message-ID in vals, without <>.
func firstMsgID(vals []string) string {
	return first(msgIDs(vals))
}

// parseFrom returns the first From address (lower-cased) and its name.
func parseFrom(vals []string, problems []string) (string, string, []string) {
	if len(vals) == 0 {
		return "", "", problems
	}
	list, err := addressParser.ParseList(vals[0])
	if err != nil || len(list) == 0 {
		addrs := looseAddrs(vals[0])
		problems = append(problems, fmt.Sprintf("from: %v", errOrEmpty(err)))
		if len(addrs) == 0 {
			return "", "", problems
		}
		return addrs[0], "", problems
	}
	return strings.ToLower(list[0].Address), list[0].Name, problems
}

// parseAddrs parses every value of an address field (To, Cc), lower-cased.
// On a parse error it falls back to anything that looks like an address.
func parseAddrs(name string, vals []string, problems []string) ([]string, []string) {
	var out []string
	for _, v := range vals {
		list, err := addressParser.ParseList(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			out = append(out, looseAddrs(v)...)
			continue
		}
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
	}
	return out, problems
}

// errOrEmpty describes err, or an empty address list.
func errOrEmpty(err error) string {
	if err == nil {
		return "no address"
	}
	return err.Error()
}

// looseAddrRe matches something shaped like local@domain.
var looseAddrRe = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

// looseAddrs extracts address-like tokens from an unparseable field.
func looseAddrs(v string) []string {
	found := looseAddrRe.FindAllString(v, -1)
	for i := range found {
		found[i] = strings.ToLower(found[i])
	}
	return found
}

// parseDate parses an RFC 5322 section 3.3 date; an empty one is no error.
func parseDate(v string, problems []string) (time.Time, []string) {
	if v == "" {
		return time.Time{}, problems
	}
	// Fast path for the usual RFC 5322 form; net/mail handles the rest.
	if t, err := time.Parse("Mon, _2 Jan 2006 15:04:05 -0700", v); err == nil {
		return t, problems
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		return time.Time{}, append(problems, fmt.Sprintf("date: %v", err))
	}
	return t, problems
}

// MessageFromHeader builds a Message from a header block, parsed as phase 1
// parses what it fetched.
func MessageFromHeader(h []byte) *Message {
	m := &Message{Header: h}
	m.parseHeader()
	return m
}

// newMessage builds a Message from phase-1 data and parses its header.
func newMessage(r *rawMsg) *Message {
	m := &Message{UID: r.uid, InternalDate: r.date, Size: r.size, Flags: flagStrings(r)}
	m.Header = r.sections[sectionKey(nil, "HEADER", true)]
	if m.Header == nil {
		m.ParseError = "server returned no header for this UID"
		return m
	}
	m.parseHeader()
	return m
}

// flagStrings converts the IMAP flags to strings.
func flagStrings(r *rawMsg) []string {
	out := make([]string, len(r.flags))
	for i, f := range r.flags {
		out[i] = string(f)
	}
	return out
}

// headerEnd returns h with its terminating blank line ensured.
func headerEnd(h []byte) []byte {
	switch {
	case bytes.HasSuffix(h, []byte("\r\n\r\n")), bytes.HasSuffix(h, []byte("\n\n")):
		return h
	case bytes.HasSuffix(h, []byte("\r\n")):
		return append(h[:len(h):len(h)], "\r\n"...)
	case len(h) == 0:
		return []byte("\r\n")
	}
	return append(h[:len(h):len(h)], "\r\n\r\n"...)
}
