package templates

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Draft is a rendered follow-up, ready for the store to save as proposed.
// Message-IDs carry no angle brackets, as everywhere in Outreach.
type Draft struct {
	Template   string   // the name of the template that wrote it
	To         string   // the address the conversation used
	Subject    string   // "Re: " and the original subject
	InReplyTo  string   // our last message's Message-ID
	References []string // the thread's chain, oldest first, ending with InReplyTo
	Body       string   // plain text: the follow-up, then the original quoted; LF line ends
}

// replyPrefix matches one reply prefix as mail clients write them: Re, AW
// (German), SV (Nordic), VS (Finnish), Antw (Dutch), Odp (Polish), RIF
// (Italian), YNT (Turkish), 回复 / 答复 / 回覆 (Chinese), 返信 (Japanese),
// with an optional counter such as [2], (3) or ^4, and an ASCII or
// full-width colon. Forward prefixes are kept: they are part of what the
// original said, and clients write "Re: Fwd: ..." too.
var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|aw|sv|vs|antw|odp|rif|ynt|回复|答复|回覆|返信)\s*(\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*`)

// subjectText is the original subject without reply prefixes, on one line:
// "RE: Re: AW: Research  opportunity" becomes "Research opportunity". The
// text itself, its case and its language, is kept.
func subjectText(s string) string {
	s = strings.Join(strings.Fields(s), " ") // a folded or tab-ridden subject becomes one line
	for {
		loc := replyPrefix.FindStringIndex(s)
		if loc == nil {
			return s
		}
		s = s[loc[1]:]
	}
}

// replySubject is the follow-up's subject: exactly one "Re: " (RFC 5322
// section 3.6.5), never "Re: Re:", whatever the original carried.
func replySubject(original string) string {
	return strings.TrimSpace("Re: " + subjectText(original))
}

// maxReferences bounds the References chain. The netnews rule, which mail
// clients follow in spirit (son-of-RFC 1036, the USEFOR drafts behind RFC
// 5536): trim only beyond 21 identifiers, starting with the second, and
// never drop the first, which names the thread's root.
const maxReferences = 21

// references builds the follow-up's References as RFC 5322 section 3.6.4
// says: the parent's References (or, lacking them, its single In-Reply-To)
// followed by the parent's Message-ID; duplicates removed, order kept, the
// parent last.
func references(o Original) []string {
	parent := bareID(o.MessageID)
	var chain []string
	switch {
	case len(o.References) > 0:
		chain = o.References
	case len(o.InReplyTo) == 1:
		chain = o.InReplyTo
	}
	var out []string
	for _, id := range chain {
		if id = bareID(id); id != "" && id != parent && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	out = append(out, parent)
	if len(out) > maxReferences {
		out = append(out[:1], out[len(out)-(maxReferences-1):]...)
	}
	return out
}

// bareID strips the angle brackets and spaces around a Message-ID.
func bareID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

// wrapWidth is where plain-text lines break: 72 leaves room for a few
// levels of "> " before the 78 characters RFC 5322 section 2.1.1 asks for.
const wrapWidth = 72

// attributionLayout matches what mail clients write above a quote.
const attributionLayout = "Mon, 2 Jan 2006 at 15:04"

// body is the rendered text, tidied and wrapped, then the original quoted
// below an attribution line, as a reply written by hand would be.
func body(text string, o Original) string {
	var b strings.Builder
	for _, line := range tidy(text) {
		b.WriteString(line + "\n")
	}
	if quoted := quote(o.Text); len(quoted) > 0 {
		b.WriteString("\n" + attribution(o) + "\n")
		for _, line := range quoted {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// tidy cleans what a template produced: trailing spaces go, runs of blank
// lines (left behind by {{if}} and {{with}}) shrink to one, blank lines at
// either end go, and long lines are wrapped.
func tidy(text string) []string {
	var out []string
	for _, line := range strings.Split(normalizeNewlines(text), "\n") {
		line = trimRight(line)
		if line == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, wrap(line, wrapWidth)...)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// quote prefixes the original's lines with "> " ("> " lines become ">> ",
// blank lines a bare ">"), wrapping long ones first.
func quote(text string) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	var out []string
	for _, line := range strings.Split(strings.Trim(normalizeNewlines(text), "\n"), "\n") {
		line = trimRight(line)
		switch {
		case line == "":
			out = append(out, ">")
		case strings.HasPrefix(line, ">"):
			out = append(out, ">"+line)
		default:
			for _, l := range wrap(line, wrapWidth-2) {
				out = append(out, "> "+l)
			}
		}
	}
	return out
}

// trimRight drops trailing white space, except from the signature
// separator "-- ", whose space is what makes it one (RFC 3676 section 4.3).
func trimRight(line string) string {
	if line == "-- " {
		return line
	}
	return strings.TrimRight(line, " \t")
}

// wrap breaks a line longer than width characters at spaces, keeping its
// indentation on every piece. A word longer than width, such as a link,
// stays whole on a line of its own: a link is never broken or changed.
func wrap(line string, width int) []string {
	if utf8.RuneCountInString(line) <= width {
		return []string{line}
	}
	rest := strings.TrimLeft(line, " \t")
	indent := line[:len(line)-len(rest)]
	var out []string
	cur := ""
	for _, word := range strings.Fields(rest) {
		if cur != "" && utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(word) > width {
			out = append(out, cur)
			cur = ""
		}
		if cur == "" {
			cur = indent + word
		} else {
			cur += " " + word
		}
	}
	return append(out, cur)
}

// attribution is the line above the quote: "On Mon, 2 Nov 2026 at 09:00,
// Amaka Obi <amaka@example.org> wrote:".
func attribution(o Original) string {
	who := "I"
	switch {
	case o.FromName != "" && o.From != "":
		who = o.FromName + " <" + o.From + ">"
	case o.FromName != "":
		who = o.FromName
	case o.From != "":
		who = o.From
	}
	if o.Date.IsZero() {
		return who + " wrote:"
	}
	return "On " + o.Date.Format(attributionLayout) + ", " + who + " wrote:"
}
