package templates

import (
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
)

// Data is what one follow-up is rendered from. Render turns it into the map
// templates see (see the package comment for the variable names).
type Data struct {
	To       string           // the address the conversation used: the draft's To
	Contact  outreach.Contact // the person written to
	Original Original         // our last message in the thread: replied to and quoted
	Profile  Profile          // the applicant
}

// Original is our last message in the thread: the follow-up replies to it,
// refers to it and quotes it.
type Original struct {
	MessageID  string   // its Message-ID, with or without angle brackets
	InReplyTo  []string // its In-Reply-To ids
	References []string // its References ids, oldest first
	Subject    string
	// Date is shown in its own location: convert it first (for example to
	// the contact's time zone) if another is wanted; this package loads no
	// zone data.
	Date     time.Time
	From     string // the sender's address, for the attribution line
	FromName string // the sender's display name
	Text     string // the plain-text body
}

// OriginalOf takes the threading facts of a stored message; the body is
// passed separately because outreach.Message never holds it.
func OriginalOf(m outreach.Message, text string) Original {
	return Original{MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		Subject: m.Subject, Date: m.Date, From: m.From, FromName: m.FromName, Text: text}
}

// Profile is the applicant. Its fields are those of the [profile] section
// of the configuration, in the same order, so cmd can convert one to the
// other directly.
type Profile struct {
	Name        string
	Position    string
	Institution string
	Country     string
	Signature   string
}

// fields is one group of template variables (.Contact, .Original, .Profile).
// It is a map, not a struct, so that an empty value can simply be left out:
// with missingkey=error, using it then stops the template at that point,
// and the error names the key. A struct field would print "" silently.
type fields map[string]any

// extras holds the contact's extra CSV columns (.Contact.Extra), under
// their column names. Unlike fields, any name may be asked for: the columns
// differ from one contact file to the next.
type extras map[string]any

// view is the root of what templates see: empty values are left out.
func (d Data) view() fields {
	c, o, p := d.Contact, d.Original, d.Profile
	contact := fields{"Extra": extrasOf(c.Extra)}
	original, profile := fields{}, fields{}
	root := fields{"Contact": contact, "Original": original, "Profile": profile}
	root.put("To", d.To)
	contact.put("Email", c.Email)
	contact.put("FirstName", c.FirstName)
	contact.put("LastName", c.LastName)
	contact.put("Title", c.Title)
	contact.put("Institution", c.Institution)
	contact.put("Timezone", c.Timezone)
	// Contact.Notes is deliberately absent: notes are the applicant's own
	// and must never leak into an email by a template's mistake.
	original.put("Subject", subjectText(o.Subject))
	if !o.Date.IsZero() {
		original["Date"] = o.Date
	}
	original.put("Excerpt", excerpt(o.Text))
	profile.put("Name", p.Name)
	profile.put("Position", p.Position)
	profile.put("Institution", p.Institution)
	profile.put("Country", p.Country)
	profile.put("Signature", p.Signature)
	return root
}

func extrasOf(m map[string]string) extras {
	e := extras{}
	for k, v := range m {
		if v = strings.TrimSpace(v); v != "" {
			e[k] = v
		}
	}
	return e
}

// put stores a value only when it says something: blank counts as empty.
func (m fields) put(key, value string) {
	if value = strings.TrimSpace(value); value != "" {
		m[key] = value
	}
}

// excerptWords bounds .Original.Excerpt: enough to recall the email, short
// enough to sit inside a sentence.
const excerptWords = 40

// excerpt is the opening of the original after its greeting: the first
// paragraph that is not a one-line salutation such as "Dear Dr. Chen,",
// cut to excerptWords words.
func excerpt(text string) string {
	for _, para := range strings.Split(normalizeNewlines(text), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" || isSalutation(para) {
			continue
		}
		words := strings.Fields(para)
		if len(words) > excerptWords {
			return strings.Join(words[:excerptWords], " ") + " …"
		}
		return strings.Join(words, " ")
	}
	return ""
}

// isSalutation recognises a greeting line: one short line ending in a comma.
func isSalutation(para string) bool {
	return !strings.Contains(para, "\n") && strings.HasSuffix(para, ",") && len([]rune(para)) <= 60
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// variables maps every variable a template may use, as a path such as
// ".Contact.Title", to true; ".Contact.Extra" stands for any extra column.
// It is read off the sample, which sets every field, so the list cannot
// drift from view.
var variables = pathsOf(sampleData().view(), "")

func pathsOf(m map[string]any, prefix string) map[string]bool {
	paths := map[string]bool{}
	for k, v := range m {
		p := prefix + "." + k
		paths[p] = true
		if sub, ok := v.(fields); ok {
			for sp := range pathsOf(sub, p) {
				paths[sp] = true
			}
		}
	}
	return paths
}

// knownKey reports whether key names a variable in some group; optional
// uses it to refuse a misspelt name instead of quietly taking the fallback.
func knownKey(key string) bool {
	for p := range variables {
		if strings.HasSuffix(p, "."+key) {
			return true
		}
	}
	return false
}

// sampleData is a representative follow-up with every field set: Lint
// renders each template against it, and it defines the variable list.
func sampleData() Data {
	return Data{
		To: "wei.chen@med.example.edu",
		Contact: outreach.Contact{Email: "wei.chen@med.example.edu", FirstName: "Wei", LastName: "Chen",
			Title: "Professor of Urology", Institution: "Example University Medical Center",
			Timezone: "America/Chicago", Addresses: []string{"wei.chen@med.example.edu"},
			Extra: map[string]string{"paper": "Outcomes of mini-PCNL in children"}},
		Original: Original{MessageID: "20261102090000.1.outreach@example.org",
			Subject: "Research opportunity in pediatric urology",
			Date:    time.Date(2026, time.November, 2, 9, 0, 0, 0, time.UTC),
			From:    "amaka.obi@example.org", FromName: "Amaka Obi",
			Text: "Dear Professor Chen,\n\nI am a medical graduate from Nigeria applying to urology " +
				"residency, and I read your paper on mini-PCNL outcomes in children with great interest.\n\n" +
				"Kind regards,\nAmaka Obi\n"},
		Profile: Profile{Name: "Amaka Obi", Position: "Medical graduate, applying to urology residency",
			Institution: "University of Lagos College of Medicine", Country: "Nigeria",
			Signature: "Amaka Obi, MBBS\nUniversity of Lagos College of Medicine"},
	}
}
