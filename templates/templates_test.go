package templates

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	outreach "github.com/outreach/outreach"
)

// TestUserOverride: a user's file replaces the default of the same name,
// adds new names, and other files in the directory are ignored.
func TestUserOverride(t *testing.T) {
	set, err := New("testdata/user")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"followup", "followup_observership", "followup_research", "followup_short"}
	if got := set.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got := set.File("followup"); got != "testdata/user/followup.tmpl" {
		t.Errorf("File(followup) = %q, want the user's file", got)
	}
	if got := set.File("followup_research"); got != "default/followup_research.tmpl" {
		t.Errorf("File(followup_research) = %q, want the default", got)
	}
	d, err := set.Render("followup", fixture())
	if err != nil {
		t.Fatal(err)
	}
	if want := "Dear Dr. Souza,\n\nA short note after my email of 2 November: I would still be glad to help\nExample University Hospital with any project.\n"; !strings.HasPrefix(d.Body, want) {
		t.Errorf("the user's template was not used:\n%s", d.Body)
	}
}

// TestParseErrorNamesFileAndLine: every broken file is reported, each with
// its file and line, and no Set is returned.
func TestParseErrorNamesFileAndLine(t *testing.T) {
	_, err := New("testdata/broken")
	if err == nil {
		t.Fatal("New accepted a template with a syntax error")
	}
	if want := "testdata/broken/followup.tmpl:3: template followup: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start with %q", err, want)
	}
	if !outreach.IsKind(err, outreach.KindInvalid) {
		t.Errorf("kind = %s, want invalid", outreach.KindOf(err))
	}

	_, err = NewFS(fstest.MapFS{
		"a.tmpl": {Data: []byte("ok\n{{if .To}}\n")},
		"b.tmpl": {Data: []byte("caf\xe9\n")}, // Latin-1, not UTF-8
	}, "mine")
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("error %v does not carry Problems", err)
	}
	got := strings.Split(problems.Error(), "\n")
	want := []string{"mine/a.tmpl:3: template a: unexpected EOF",
		"mine/b.tmpl: template b: not UTF-8 text: save the file as UTF-8"}
	if !slices.Equal(got, want) {
		t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMissingDirectory(t *testing.T) {
	_, err := New("testdata/no-such-dir")
	if !outreach.IsKind(err, outreach.KindInvalid) || !strings.Contains(err.Error(), "testdata/no-such-dir") {
		t.Errorf("error = %v, want an invalid error naming the directory", err)
	}
}

// TestLintDefaults: the shipped templates are clean and short.
func TestLintDefaults(t *testing.T) {
	set, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	if problems := set.Lint(); len(problems) > 0 {
		t.Errorf("default templates have problems:\n%s", Problems(problems))
	}
}

// TestLintFindsBrokenUserTemplate: a typo in a branch the sample never
// takes, a misspelt optional name, an undefined template, and a follow-up
// too long to be read.
func TestLintFindsBrokenUserTemplate(t *testing.T) {
	set, err := New("testdata/lint")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range set.Lint() {
		got = append(got, p.Error())
	}
	want := []string{
		"testdata/lint/followup.tmpl:3: template followup: variable .Contact.LastNmae is not a variable (see the templates package documentation)",
		"testdata/lint/followup.tmpl:5: template followup: variable .Profile.Postion is not a variable (see the templates package documentation)",
		`testdata/lint/followup.tmpl:6: template followup: template "signature" is not defined`,
		"testdata/lint/followup_long.tmpl: template followup_long: the sample follow-up is 137 words; keep it under 120",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Lint() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRenderErrors: the kinds callers switch on, and the RenderError
// behind a variable that is empty.
func TestRenderErrors(t *testing.T) {
	set := mustSet(t, nil)
	if _, err := set.Render("nope", fixture()); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Errorf("unknown template: error = %v, want not_found", err)
	}
	noTo := fixture()
	noTo.To = " "
	if _, err := set.Render("followup", noTo); !outreach.IsKind(err, outreach.KindInvalid) {
		t.Errorf("no To: error = %v, want invalid", err)
	}
	noID := fixture()
	noID.Original.MessageID = "<>"
	if _, err := set.Render("followup", noID); !outreach.IsKind(err, outreach.KindInvalid) {
		t.Errorf("no Message-ID: error = %v, want invalid", err)
	}
	noName := fixture()
	noName.Contact.LastName = ""
	_, err := set.Render("followup", noName)
	var re *RenderError
	if !errors.As(err, &re) || re.Variable != ".Contact.LastName" || re.Unknown || re.Line != 10 {
		t.Errorf("error = %#v, want a RenderError for .Contact.LastName at line 10", re)
	}
}

// TestOptional: optional falls back on an empty value, fails on a typo,
// and accepts any extra column.
func TestOptional(t *testing.T) {
	set := mustSet(t, fstest.MapFS{
		"title.tmpl":  {Data: []byte(`{{with optional .Contact "Title"}}{{.}}{{else}}none{{end}}`)},
		"typo.tmpl":   {Data: []byte(`{{with optional .Contact "Titel"}}{{.}}{{end}}`)},
		"column.tmpl": {Data: []byte(`{{with optional .Contact.Extra "anything"}}{{.}}{{else}}none{{end}}`)},
		"index.tmpl":  {Data: []byte(`{{index .Contact.Extra "anything"}}`)},
		"blank.tmpl":  {Data: []byte("{{with optional .Contact \"Title\"}}{{.}}{{end}}\n\n")},
	})
	data := fixture()
	data.Contact.Title = ""
	for _, tc := range []struct{ template, want string }{
		{"title", "none\n"},
		{"column", "none\n"},
		{"typo", `error: invalid: template typo: line 1: error calling optional: "Titel" is not a variable`},
		{"index", "error: invalid: template index: a value printed as <no value>"},
		{"blank", "error: invalid: template blank: the template wrote nothing"},
	} {
		d, err := set.Render(tc.template, data)
		got := d.Body
		if err != nil {
			got = "error: " + string(outreach.KindOf(err)) + ": " + err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want it to start with %q", tc.template, got, tc.want)
		}
	}
}

// TestLinksUntouched: a link in a template reaches the body byte for byte,
// even past the wrap width: no rewriting, no tracking, no breaking.
func TestLinksUntouched(t *testing.T) {
	link := "https://example.edu/~aobi/cv.pdf?version=2&lang=en#page=1-and-a-rather-long-anchor-to-pass-the-width"
	set := mustSet(t, fstest.MapFS{"link.tmpl": {Data: []byte("My CV: " + link + "\n")}})
	d, err := set.Render("link", fixture())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Body, "My CV:\n"+link+"\n") {
		t.Errorf("body = %q, want the link whole on its own line", d.Body)
	}
}

// TestConcurrentRender: a Set is shared by the daemon's loops.
func TestConcurrentRender(t *testing.T) {
	set := mustSet(t, nil)
	want, err := set.Render("followup", fixture())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := set.Render("followup", fixture()); err != nil || got.Body != want.Body {
				t.Errorf("concurrent render differs: %v", err)
			}
		})
	}
	wg.Wait()
}
