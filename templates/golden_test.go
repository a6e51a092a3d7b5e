package templates

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	outreach "github.com/outreach/outreach"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from the current output")

// lagos is the applicant's zone in the fixtures: attribution lines show the
// original's date in the location it carries.
var lagos = time.FixedZone("WAT", 1*60*60)

// fixture is a typical follow-up: the applicant wrote once, ten days ago.
func fixture() Data {
	return Data{
		To: "a.souza@med.example.edu",
		Contact: outreach.Contact{Email: "a.souza@med.example.edu", Addresses: []string{"a.souza@med.example.edu"},
			FirstName: "Ana", LastName: "Souza", Title: "Professor of Urology",
			Institution: "Example University Hospital", Timezone: "America/Chicago"},
		Original: Original{MessageID: "20261102090000.7.outreach@example.org",
			Subject: "Research opportunity in pediatric urology",
			Date:    time.Date(2026, time.November, 2, 9, 0, 0, 0, lagos),
			From:    "amaka.obi@example.org", FromName: "Amaka Obi",
			Text: "Dear Professor Souza,\r\n\r\nI am a medical graduate from Nigeria applying to urology " +
				"residency in 2027. Your work on pediatric stone disease is why I am writing: I would be " +
				"grateful for any chance to contribute to a project in your group.\r\n\r\nKind regards,\r\nAmaka Obi\r\n"},
		Profile: Profile{Name: "Amaka Obi", Position: "Medical graduate (MBBS), applying to urology residency",
			Institution: "University of Lagos", Country: "Nigeria"},
	}
}

// TestGolden renders drafts and compares them with testdata/golden/NAME.txt;
// `go test ./templates/ -run Golden -update` rewrites the files.
func TestGolden(t *testing.T) {
	tests := []struct {
		name     string
		template string
		user     fstest.MapFS // templates besides the defaults, for the failing cases
		change   func(*Data)
	}{
		{name: "subject-none", template: "followup"},
		{name: "research-with-paper", template: "followup_research", change: func(d *Data) {
			d.Contact.Extra = map[string]string{"paper": "Ureteral stent symptoms in children"}
		}},
		{name: "observership-non-ascii", template: "followup_observership", change: func(d *Data) {
			d.To = "jose.nunez@hospital.example.es"
			d.Contact = outreach.Contact{Email: "jose.nunez@hospital.example.es", FirstName: "José",
				LastName: "Ñúñez", Title: "Profesor Titular de Urología", Institution: "Hospital Clínico San Carlos",
				Extra: map[string]string{"observership_dates": "junio–julio de 2027"}}
			d.Original.Subject = "Estágio de observação em urologia — pedido"
			d.Original.FromName = "Zoë Müller"
			d.Original.From = "zoe.mueller@example.de"
			d.Original.Text = "Estimado Profesor Ñúñez:\n\nMe llamo Zoë Müller y le escribo desde Köln.\n"
			d.Profile = Profile{Name: "Zoë Müller", Signature: "Zoë Müller\nÄrztin in Weiterbildung, Köln"}
		}},
		{name: "chinese-name-subject", template: "followup", change: func(d *Data) {
			d.To = "chen.wei@hospital.example.cn"
			d.Contact = outreach.Contact{Email: "chen.wei@hospital.example.cn", FirstName: "伟", LastName: "陈",
				Title: "主任医师"}
			d.Original.Subject = "关于临床观摩的询问"
			d.Original.Text = "陈医生您好，\n\n我是一名来自尼日利亚的医学毕业生。\n"
		}},
		{name: "several-addresses", template: "followup", change: func(d *Data) {
			// The conversation used her hospital address, not the primary.
			d.Contact.Addresses = []string{"a.souza@med.example.edu", "asouza@hospital.example.org", "ana.souza@gmail.example.com"}
			d.To = "asouza@hospital.example.org"
			d.Contact.Title = "Associate Professor"
		}},
		{name: "no-title-no-signature", template: "followup", change: func(d *Data) {
			d.Contact.Title = "  "
			d.Profile.Position = ""
		}},
		{name: "subject-re-re", template: "followup", change: func(d *Data) {
			d.Original.Subject = "Re: Re: Research opportunity in pediatric urology"
		}},
		{name: "subject-uppercase-re", template: "followup", change: func(d *Data) {
			d.Original.Subject = "RE:  Research opportunity in\r\n pediatric urology"
		}},
		{name: "subject-aw", template: "followup", change: func(d *Data) {
			d.Original.Subject = "AW: Re[2]: Anfrage Hospitation Urologie"
		}},
		{name: "subject-fwd-kept", template: "followup", change: func(d *Data) {
			d.Original.Subject = "Fwd: CV for the observership"
		}},
		{name: "threading", template: "followup_short", user: fstest.MapFS{"followup_short.tmpl": {Data: []byte(
			"Dear Dr. {{.Contact.LastName}},\n\nOne short follow-up.\n\n{{.Profile.Name}}\n")}},
			change: func(d *Data) {
				// Our last message is the third of the thread: our first email,
				// a note from her office, our answer. Its References repeat an
				// id and carry angle brackets.
				d.Original.MessageID = "<20261105120000.9.outreach@example.org>"
				d.Original.Date = time.Date(2026, time.November, 5, 12, 0, 0, 0, lagos)
				d.Original.Text = "Thank you for forwarding my email to Professor Souza. My CV is attached, as you suggested.\n\nAmaka Obi\n"
				d.Original.InReplyTo = []string{"CAF=reply.souza@mail.example.edu"}
				d.Original.References = []string{"<20261102090000.7.outreach@example.org>",
					"CAF=reply.souza@mail.example.edu", "20261102090000.7.outreach@example.org"}
			}},
		{name: "error-empty-last-name", template: "followup", change: func(d *Data) { d.Contact.LastName = "" }},
		{name: "error-empty-date", template: "followup", change: func(d *Data) { d.Original.Date = time.Time{} }},
		{name: "error-missing-column", template: "followup_needs_column", user: fstest.MapFS{
			"followup_needs_column.tmpl": {Data: []byte("Dear Dr. {{.Contact.LastName}},\n\n" +
				"I remain interested in {{.Contact.Extra.research_interest}}.\n")}}},
		{name: "error-unknown-variable", template: "followup_typo", user: fstest.MapFS{
			"followup_typo.tmpl": {Data: []byte("Dear {{.Contact.Titel}} {{.Contact.LastName}},\n")}}},
		{name: "error-empty-in-with", template: "followup_with", user: fstest.MapFS{
			"followup_with.tmpl": {Data: []byte("{{with .Profile}}\n\n{{.Name}}\n{{.Country}}{{end}}\n")}},
			change: func(d *Data) { d.Profile.Country = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := mustSet(t, tc.user)
			data := fixture()
			if tc.change != nil {
				tc.change(&data)
			}
			got := show(set.Render(tc.template, data))
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".txt"), got)
		})
	}
}

func mustSet(t *testing.T, user fstest.MapFS) *Set {
	t.Helper()
	set, err := newSet(user)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// newSet avoids handing NewFS a nil MapFS as a non-nil fs.FS.
func newSet(user fstest.MapFS) (*Set, error) {
	if user == nil {
		return NewFS(nil, "")
	}
	return NewFS(user, "user")
}

// show prints a draft as its headers and body, or the error.
func show(d Draft, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	refs := make([]string, len(d.References))
	for i, r := range d.References {
		refs[i] = "<" + r + ">"
	}
	return "Template: " + d.Template + "\nTo: " + d.To + "\nSubject: " + d.Subject +
		"\nIn-Reply-To: <" + d.InReplyTo + ">\nReferences: " + strings.Join(refs, " ") + "\n\n" + d.Body
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
