package classify

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// facts are the parsed pieces of one message that the rules read.
type facts struct {
	msg       message
	subject   string // decoded
	lsubject  string // lower-cased subject
	from      string // lower-cased address
	fromName  string
	fromLocal string // lower-cased local part
	nullPath  bool   // Return-Path: <> (RFC 5321 section 4.5.5: notifications use the null sender)
	date      time.Time
	hasDate   bool
	text      string // the human-readable text of the message, decoded
	ltext     string // lower-cased text
	notice    string // the text before a quoted returned message
	lnotice   string // lower-cased notice
}

// maxText bounds the text the phrase rules read across all parts.
const maxText = 128 << 10

func newFacts(raw []byte) *facts {
	m := parseMessage(raw)
	f := &facts{msg: m}
	f.subject = strings.Join(strings.Fields(m.header.get("subject")), " ")
	f.lsubject = strings.ToLower(f.subject)
	f.from, f.fromName = parseAddress(m.header.get("from"))
	if at := strings.LastIndexByte(f.from, '@'); at > 0 {
		f.fromLocal = f.from[:at]
	}
	f.nullPath = isNullPath(m.header)
	f.date, f.hasDate = parseDate(m.header.get("date"))
	f.text = bodyText(m.parts)
	f.ltext = strings.ToLower(f.text)
	f.notice = noticePart(f.text)
	f.lnotice = strings.ToLower(f.notice)
	return f
}

// isNullPath reports an empty reverse path in Return-Path or the
// envelope-sender headers some gateways write instead.
func isNullPath(h header) bool {
	for _, name := range []string{"return-path", "x-envelope-from", "envelope-from"} {
		for _, v := range h.all(name) {
			if strings.TrimSpace(v) == "<>" {
				return true
			}
		}
	}
	return false
}

// bodyText joins the text/plain parts, or the HTML ones turned to text when
// there is no plain part, within maxText.
func bodyText(parts []part) string {
	var plain, html strings.Builder
	for _, p := range parts {
		if !strings.HasPrefix(p.mediaType, "text/") || p.mediaType == "text/rfc822-headers" {
			continue
		}
		dst := &plain
		if p.html {
			dst = &html
		}
		if dst.Len()+len(p.text) <= maxText {
			dst.WriteString(p.text)
			dst.WriteString("\n")
		}
	}
	if strings.TrimSpace(plain.String()) == "" {
		return html.String()
	}
	return plain.String()
}

// threadRefs returns In-Reply-To then References (RFC 5322 section 3.6.4).
func (f *facts) threadRefs() []string {
	ids := splitMessageIDs(f.msg.header.get("in-reply-to"))
	return append(ids, splitMessageIDs(f.msg.header.get("references"))...)
}

// embeddedHeaders returns the headers of returned messages (message/rfc822
// or text/rfc822-headers parts).
func (f *facts) embeddedHeaders() []header {
	var hs []header
	for _, p := range f.msg.parts {
		if p.embedded != nil {
			hs = append(hs, p.embedded)
		}
	}
	return hs
}

// weakMachineSignals lists hints that alone do not make a message machine
// mail but make a "human" verdict unsure.
func (f *facts) weakMachineSignals() []string {
	var out []string
	h := f.msg.header
	if p := strings.ToLower(h.get("precedence")); p == "bulk" || p == "junk" || p == "list" {
		out = append(out, "Precedence: "+p)
	}
	if f.nullPath {
		out = append(out, "Return-Path: <>")
	}
	if isNoReplyLocal(f.fromLocal) {
		out = append(out, "no-reply sender")
	}
	return out
}

// noReplySeparators are left out when a local part is compared.
var noReplySeparators = strings.NewReplacer("-", "", "_", "", ".", "")

// isNoReplyLocal reports local parts used only by machines.
func isNoReplyLocal(local string) bool {
	l := noReplySeparators.Replace(local)
	return l == "noreply" || l == "donotreply" || l == "noresponse" || strings.HasPrefix(l, "noreply")
}

// parseDate parses a Date header, falling back to the first
// "day month year" it can find for the obsolete forms net/mail rejects.
func parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	m := looseDateRe.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("2 Jan 2006", m[1]+" "+m[2][:1]+strings.ToLower(m[2][1:3])+" "+m[3])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

var looseDateRe = regexp.MustCompile(`(?i)\b(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+(\d{4})\b`)
