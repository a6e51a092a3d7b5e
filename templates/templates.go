// Package templates owns the follow-up emails' text: the default templates
// embedded in the binary, the user's overrides, and strict rendering of a
// draft (To, a "Re:" subject, threading headers, and a plain-text body with
// the original quoted). It imports only the root package; it never reads
// the clock or a database. Its only I/O is reading the user's template
// directory, once, in New; rendering is pure.
//
// # Templates
//
// A template is a text/template file, NAME.tmpl; the default ones live in
// default/ and a file of the same name in the user's directory replaces one
// whole. A template writes the follow-up's own words only: the greeting,
// a few short paragraphs and the sign-off. Render adds the quote of the
// original below, and chooses To, Subject and the threading headers itself,
// so no template can get those wrong. Output is plain text: there is no
// HTML, no tracking pixel and no link rewriting, and none can be added.
//
// # Variables
//
//	.To                      the address this draft goes to (the one the conversation used)
//	.Contact.Email           the contact's primary address
//	.Contact.FirstName       as in the contacts file: first_name
//	.Contact.LastName        last_name
//	.Contact.Title           title, such as "Professor of Urology"
//	.Contact.Institution     institution
//	.Contact.Timezone        timezone, such as "America/Chicago"
//	.Contact.Extra.COLUMN    any other column of the contacts file, by its
//	                         normalised name: .Contact.Extra.research_interest
//	.Original.Subject        the subject of our last message, without "Re:"
//	.Original.Date           when it was sent: a time.Time, so
//	                         {{.Original.Date.Format "January 2"}} gives "November 2"
//	.Original.Excerpt        its first paragraph after the greeting (40 words at most)
//	.Profile.Name            the applicant, from the [profile] configuration
//	.Profile.Position        position
//	.Profile.Institution     institution
//	.Profile.Country         country
//	.Profile.Signature       signature (may span lines)
//
// Contact notes are not available: they are the applicant's own.
//
// # Empty values are errors
//
// Every variable a template uses must have a value: an empty one (or blank)
// stops the rendering with an error naming it, such as
// "template followup: line 4: variable .Contact.Title is empty", and a
// misspelt one says it is not a variable. No draft goes out with a hole in
// it. This works because the template sees maps with empty values left out,
// and runs with missingkey=error.
//
// A variable that may be empty is asked for explicitly with optional,
// which gives "" instead of failing, so {{with}} can supply a fallback:
//
//	Dear {{with optional .Contact "Title"}}{{if hasPrefix (lower .) "professor"}}Professor{{else}}Dr.{{end}}{{else}}Dr.{{end}} {{.Contact.LastName}},
//
// The functions are optional MAP "NAME", lower TEXT and hasPrefix TEXT PREFIX,
// besides text/template's own.
package templates

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"unicode/utf8"

	outreach "github.com/outreach/outreach"
)

//go:embed default/*.tmpl
var defaults embed.FS

// Set is the parsed templates, defaults and overrides, by name. It is
// read-only after New and safe for concurrent use.
type Set struct {
	byName map[string]*entry
}

// entry is one template and where its text came from.
type entry struct {
	name string
	file string // "default/NAME.tmpl" or the user's file
	src  string // the parsed text, to turn node positions into lines
	tmpl *template.Template
}

// New parses the default templates and, when userDir is not "", every
// NAME.tmpl file in it; a user file replaces the default of the same name.
// Every parse error is reported at once, each naming its file and line
// (errors.As finds them as Problems).
func New(userDir string) (*Set, error) {
	if userDir == "" {
		return NewFS(nil, "")
	}
	return NewFS(os.DirFS(userDir), userDir)
}

// NewFS is New with the user's templates in fsys (nil: none); dir is what
// file names are shown under in errors.
func NewFS(fsys fs.FS, dir string) (*Set, error) {
	s := &Set{byName: map[string]*entry{}}
	var problems Problems
	if err := s.load(defaults, "default", "default", &problems); err != nil {
		return nil, outreach.Errorf(outreach.KindInternal, "default templates: %w", err)
	}
	if fsys != nil {
		if err := s.load(fsys, ".", dir, &problems); err != nil {
			return nil, outreach.Errorf(outreach.KindInvalid, "templates directory %s: %w", dir, err)
		}
	}
	if len(problems) > 0 {
		return nil, outreach.Errorf(outreach.KindInvalid, "%w", problems)
	}
	return s, nil
}

// load parses every NAME.tmpl directly in root; a later load overrides an
// earlier one by name. Subdirectories and other files are ignored.
func (s *Set) load(fsys fs.FS, root, shownDir string, problems *Problems) error {
	files, err := fs.ReadDir(fsys, root)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".tmpl") {
			continue
		}
		src, err := fs.ReadFile(fsys, path.Join(root, f.Name()))
		if err != nil {
			return err
		}
		e, p := parseFile(strings.TrimSuffix(f.Name(), ".tmpl"), filepath.Join(shownDir, f.Name()), src)
		if p != nil {
			*problems = append(*problems, *p)
			continue
		}
		s.byName[e.name] = e
	}
	return nil
}

// parseFile reads one template file. Editors on Windows may start a file with
// a byte-order mark; it goes. Text that is not UTF-8 is refused, rather
// than mailed as mojibake.
func parseFile(name, file string, src []byte) (*entry, *Problem) {
	text := strings.TrimPrefix(string(src), "\ufeff")
	if !utf8.ValidString(text) {
		return nil, &Problem{Template: name, File: file, Message: "not UTF-8 text: save the file as UTF-8"}
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		p := parseProblem(name, file, err)
		return nil, &p
	}
	return &entry{name: name, file: file, src: text, tmpl: t}, nil
}

// funcs are the helpers templates may call besides text/template's own.
var funcs = template.FuncMap{
	"optional":  optional,
	"lower":     strings.ToLower,
	"hasPrefix": strings.HasPrefix,
}

// optional returns the value of name in a group of variables, or "" when it
// is empty, so that {{with optional .Contact "Title"}} can fall back. A
// name that is no variable at all is an error: a typo must not pass
// silently as "empty".
func optional(group any, name string) (any, error) {
	switch g := group.(type) {
	case fields:
		if v, ok := g[name]; ok {
			return v, nil
		}
		if !knownKey(name) {
			return nil, fmt.Errorf("%q is not a variable (see the templates package documentation)", name)
		}
	case extras:
		if v, ok := g[name]; ok {
			return v, nil
		}
	default:
		return nil, fmt.Errorf("optional takes a group such as .Contact or .Contact.Extra, not %T", group)
	}
	return "", nil
}

// Names lists the templates, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// File says where the named template came from ("" when there is none):
// "default/NAME.tmpl" or the user's file.
func (s *Set) File(name string) string {
	if e, ok := s.byName[name]; ok {
		return e.file
	}
	return ""
}

// Render writes the follow-up draft for data with the named template. A
// template that fails on data (a variable it needs is empty, say) is an
// Invalid error wrapping a *RenderError that names the line and variable.
func (s *Set) Render(name string, data Data) (Draft, error) {
	e, ok := s.byName[name]
	if !ok {
		return Draft{}, outreach.Errorf(outreach.KindNotFound, "template %q does not exist (have %s)",
			name, strings.Join(s.Names(), ", "))
	}
	if err := data.check(); err != nil {
		return Draft{}, outreach.Errorf(outreach.KindInvalid, "template %s: %w", name, err)
	}
	text, rerr := e.execute(data)
	if rerr != nil {
		return Draft{}, outreach.Errorf(outreach.KindInvalid, "%w", rerr)
	}
	return Draft{
		Template:   name,
		To:         strings.TrimSpace(data.To),
		Subject:    replySubject(data.Original.Subject),
		InReplyTo:  bareID(data.Original.MessageID),
		References: references(data.Original),
		Body:       body(text, data.Original),
	}, nil
}

// check refuses data no follow-up can be written from, whatever the
// template: without an address or the message it answers, it is no reply.
func (d Data) check() error {
	switch {
	case strings.TrimSpace(d.To) == "":
		return errors.New("no To address: the draft goes to the address the conversation used")
	case bareID(d.Original.MessageID) == "":
		return errors.New("the original message has no Message-ID to reply to")
	}
	return nil
}

// execute runs the template and returns its text.
func (e *entry) execute(data Data) (string, *RenderError) {
	var b strings.Builder
	if err := e.tmpl.Execute(&b, data.view()); err != nil {
		return "", renderError(e.name, err)
	}
	// text/template prints a missing value as "<no value>" where
	// missingkey=error does not reach (the index function): never mail it.
	switch {
	case strings.Contains(b.String(), "<no value>"):
		return "", &RenderError{Template: e.name, Message: "a value printed as <no value>: use a variable or optional"}
	case strings.TrimSpace(b.String()) == "":
		return "", &RenderError{Template: e.name, Message: "the template wrote nothing"}
	}
	return b.String(), nil
}
