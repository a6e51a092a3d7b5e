package templates

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template/parse"
)

// maxWords is the most a follow-up should say, signature included: one
// short note, read to the end on a phone.
const maxWords = 120

// Lint checks every template and reports what is wrong, file and line
// first: a variable that does not exist (in any branch, taken or not), a
// failure rendering the sample follow-up, and a follow-up longer than
// maxWords. Parse errors never reach a Set: New reports them, as Problems.
func (s *Set) Lint() []Problem {
	var problems []Problem
	for _, name := range s.Names() {
		problems = append(problems, s.byName[name].lint()...)
	}
	return problems
}

// lint checks one template: first its text, every branch, then one render
// against the sample with each extra column it uses filled in.
func (e *entry) lint() []Problem {
	w := &walker{entry: e, visited: map[string]bool{}}
	w.template(e.name, ".", 0)
	problems := w.problems
	data := sampleData()
	data.Contact.Extra = maps.Clone(data.Contact.Extra)
	for _, col := range w.columns {
		data.Contact.Extra[col] = "sample " + col
	}
	text, err := e.execute(data)
	switch {
	case err != nil:
		// The render stops at the first failure, often one the walk already
		// reported on that line in its own words: report it once.
		if !slices.ContainsFunc(problems, func(p Problem) bool { return p.Line == err.Line }) {
			problems = append(problems, Problem{Template: e.name, File: e.file, Line: err.Line, Message: err.Message})
		}
	case countWords(text) > maxWords:
		problems = append(problems, Problem{Template: e.name, File: e.file, Message: fmt.Sprintf(
			"the sample follow-up is %d words; keep it under %d", countWords(text), maxWords)})
	}
	return problems
}

func countWords(text string) int { return len(strings.Fields(text)) }

// walker visits a template's parse tree and checks every variable path it
// can resolve. Rendering alone would miss a typo in a branch the sample
// does not take, such as the {{else}} of a fallback.
type walker struct {
	entry    *entry
	problems []Problem
	columns  []string        // the extra columns used
	visited  map[string]bool // template and dot, against {{template}} loops
}

// template walks a named template with dot standing for the path dot ("."
// is the root; "" is unknown, as inside {{range}}).
func (w *walker) template(name, dot string, pos parse.Pos) {
	if w.visited[name+" "+dot] {
		return
	}
	w.visited[name+" "+dot] = true
	t := w.entry.tmpl.Lookup(name)
	if t == nil || t.Tree == nil {
		w.report(pos, fmt.Sprintf("template %q is not defined", name))
		return
	}
	w.node(t.Root, dot)
}

func (w *walker) node(n parse.Node, dot string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.node(c, dot)
		}
	case *parse.ActionNode:
		w.pipe(n.Pipe, dot)
	case *parse.IfNode:
		w.pipe(n.Pipe, dot)
		w.node(n.List, dot)
		w.node(n.ElseList, dot)
	case *parse.WithNode:
		w.pipe(n.Pipe, dot)
		w.node(n.List, w.pipeDot(n.Pipe, dot))
		w.node(n.ElseList, dot)
	case *parse.RangeNode:
		w.pipe(n.Pipe, dot)
		w.node(n.List, "")
		w.node(n.ElseList, dot)
	case *parse.TemplateNode:
		inner := ""
		if n.Pipe != nil {
			w.pipe(n.Pipe, dot)
			inner = w.pipeDot(n.Pipe, dot)
		}
		w.template(n.Name, inner, n.Pos)
	}
}

func (w *walker) pipe(p *parse.PipeNode, dot string) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		if group, key, ok := optionalCall(cmd, dot); ok {
			w.check(group+"."+key, cmd.Pos)
		}
		for _, arg := range cmd.Args {
			switch arg := arg.(type) {
			case *parse.FieldNode:
				w.check(join(dot, arg.Ident), arg.Pos)
			case *parse.VariableNode:
				w.check(rootPath(arg), arg.Pos)
			case *parse.PipeNode:
				w.pipe(arg, dot)
			case *parse.ChainNode:
				if inner, ok := arg.Node.(*parse.PipeNode); ok {
					w.pipe(inner, dot)
				}
			}
		}
	}
}

// pipeDot is the path a {{with}} or {{template}} pipeline gives dot: a
// plain variable, or optional GROUP "NAME"; "" for anything else.
func (w *walker) pipeDot(p *parse.PipeNode, dot string) string {
	if len(p.Cmds) != 1 {
		return ""
	}
	cmd := p.Cmds[0]
	if group, key, ok := optionalCall(cmd, dot); ok {
		return group + "." + key
	}
	if len(cmd.Args) != 1 {
		return ""
	}
	switch arg := cmd.Args[0].(type) {
	case *parse.FieldNode:
		return join(dot, arg.Ident)
	case *parse.VariableNode:
		return rootPath(arg)
	case *parse.DotNode:
		return dot
	}
	return ""
}

// optionalCall recognises optional GROUP "NAME" and returns the group's path.
func optionalCall(cmd *parse.CommandNode, dot string) (group, key string, ok bool) {
	if len(cmd.Args) != 3 {
		return "", "", false
	}
	fn, isIdent := cmd.Args[0].(*parse.IdentifierNode)
	name, isString := cmd.Args[2].(*parse.StringNode)
	if !isIdent || fn.Ident != "optional" || !isString {
		return "", "", false
	}
	switch g := cmd.Args[1].(type) {
	case *parse.FieldNode:
		group = join(dot, g.Ident)
	case *parse.VariableNode:
		group = rootPath(g)
	case *parse.DotNode:
		group = dot
	}
	return group, name.Text, group != "" && group != "."
}

// join appends field names to the path dot stands for; "" stays unknown.
func join(dot string, idents []string) string {
	if dot == "" {
		return ""
	}
	return strings.TrimSuffix(dot, ".") + "." + strings.Join(idents, ".")
}

// rootPath is the path of $.A.B; other template variables are not followed.
func rootPath(v *parse.VariableNode) string {
	if v.Ident[0] != "$" {
		return ""
	}
	return join(".", v.Ident[1:])
}

// check reports the first name in path that is no variable. Past a value
// (a string, the date) names are its methods, such as .Original.Date.Format,
// left to the render; past .Contact.Extra comes a column.
func (w *walker) check(path string, pos parse.Pos) {
	if path == "" || path == "." {
		return
	}
	names := strings.Split(strings.TrimPrefix(path, "."), ".")
	prefix := ""
	for _, name := range names {
		prefix += "." + name
		switch {
		case prefix == ".Contact.Extra" && len(names) > 2:
			w.columns = append(w.columns, names[2])
			return
		case !variables[prefix]:
			w.report(pos, "variable "+prefix+" is not a variable (see the templates package documentation)")
			return
		case !isGroup(prefix):
			return
		}
	}
}

// isGroup reports whether path holds more variables, like .Contact.
func isGroup(path string) bool {
	for p := range variables {
		if strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return path == ".Contact.Extra"
}

func (w *walker) report(pos parse.Pos, msg string) {
	p := Problem{Template: w.entry.name, File: w.entry.file, Line: w.line(pos), Message: msg}
	if !slices.Contains(w.problems, p) {
		w.problems = append(w.problems, p)
	}
}

// line turns a byte offset in the file into its line number.
func (w *walker) line(pos parse.Pos) int {
	if pos <= 0 || int(pos) > len(w.entry.src) {
		return 0
	}
	return strings.Count(w.entry.src[:pos], "\n") + 1
}
