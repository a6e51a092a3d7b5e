package templates

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// Problem is one thing wrong with a template file, found when parsing it
// (New) or when rendering it against the sample (Lint).
type Problem struct {
	Template string // the template's name, such as "followup"
	File     string // where it came from: "default/followup.tmpl" or a user file
	Line     int    // 0 when the line is not known
	Message  string
}

// Error formats the problem as "FILE:LINE: template NAME: MESSAGE", the
// form editors and the config errors use.
func (p Problem) Error() string {
	where := p.File
	if p.Line > 0 {
		where += ":" + strconv.Itoa(p.Line)
	}
	return fmt.Sprintf("%s: template %s: %s", where, p.Template, p.Message)
}

// Problems is every problem found at once, so that one run shows them all.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// RenderError is a template failing on one draft's data: which template,
// which line of its file, and what went wrong. When a variable was the
// problem, Variable names it.
type RenderError struct {
	Template string // the template's name
	Line     int    // the line in its file; 0 when not known
	Variable string // the variable as the template wrote it, such as ".Contact.Title"
	Unknown  bool   // Variable is no variable at all (a typo), rather than empty here
	Message  string // such as "variable .Contact.Title is empty"
}

// Error formats it as "template followup: line 4: variable .Contact.Title is empty".
func (e *RenderError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("template %s: %s", e.Template, e.Message)
	}
	return fmt.Sprintf("template %s: line %d: %s", e.Template, e.Line, e.Message)
}

// variableError reports a variable the template used but the data cannot fill.
func variableError(name string, line int, variable string) *RenderError {
	e := &RenderError{Template: name, Line: line, Variable: variable, Unknown: !isVariable(variable)}
	switch {
	case e.Unknown:
		e.Message = "variable " + variable + " is not a variable (see the templates package documentation)"
	case strings.HasPrefix(variable, ".Contact.Extra."):
		e.Message = "variable " + variable + " is empty or not a column for this contact"
	default:
		e.Message = "variable " + variable + " is empty"
	}
	return e
}

// execFailure picks text/template's execution error apart:
// `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`. The format
// has been stable since Go 1.0; TestErrorFormats pins it, and an error that
// does not match is still reported, with its own text.
var execFailure = regexp.MustCompile(`(?s)^template: [^:]*:(\d+):\d+: executing "[^"]*" at <(.*?)>: (.*)$`)

// noEntry is the message of missingkey=error: a map had no such key, which
// here means the variable was empty (left out of the map) or misspelt.
var noEntry = regexp.MustCompile(`^map has no entry for key "(.*)"$`)

// renderError turns a text/template execution error into a RenderError
// naming the template, the line and, when it is about a variable, the variable.
func renderError(name string, err error) *RenderError {
	var ee template.ExecError
	if !errors.As(err, &ee) {
		return &RenderError{Template: name, Message: err.Error()}
	}
	m := execFailure.FindStringSubmatch(ee.Err.Error())
	if m == nil {
		return &RenderError{Template: name, Message: strings.TrimPrefix(ee.Err.Error(), "template: ")}
	}
	line, _ := strconv.Atoi(m[1])
	if k := noEntry.FindStringSubmatch(m[3]); k != nil {
		return variableError(name, line, variableAt(m[2], k[1]))
	}
	return &RenderError{Template: name, Line: line, Message: m[3]}
}

// variableAt cuts the node text at the missing key: in ".Original.Date.Format"
// a missing "Date" is the variable ".Original.Date". "$." (the root, inside
// {{with}}) is written as ".".
func variableAt(node, key string) string {
	node = strings.TrimPrefix(node, "$")
	if i := strings.Index(node+".", "."+key+"."); i >= 0 {
		return node[:i+1+len(key)]
	}
	return node
}

// isVariable reports whether a path that failed names a real variable. A
// path from the root is checked exactly; any extra column is acceptable
// (columns differ between contact files); a path relative to a {{with}}
// is judged by its last name.
func isVariable(path string) bool {
	switch {
	case variables[path]:
		return true
	case strings.HasPrefix(path, ".Contact.Extra."):
		return strings.Count(path, ".") == 3
	case strings.HasPrefix(path, ".Contact.") || strings.HasPrefix(path, ".Original.") ||
		strings.HasPrefix(path, ".Profile."):
		return false
	}
	return knownKey(path[strings.LastIndex(path, ".")+1:])
}

// parseFailure picks text/template's parse error apart: `template: NAME:LINE: MESSAGE`.
var parseFailure = regexp.MustCompile(`(?s)^template: [^:]*:(\d+): (.*)$`)

// parseProblem turns a parse error into a Problem naming the file and line.
func parseProblem(name, file string, err error) Problem {
	p := Problem{Template: name, File: file, Message: strings.TrimPrefix(err.Error(), "template: ")}
	if m := parseFailure.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = m[2]
	}
	return p
}
