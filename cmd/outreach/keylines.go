package main

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyLines maps a key path such as "accounts[0].smtp.security" to the line
// that sets it, so that a validation error can point at the line to fix.
type keyLines map[string]int

// indexKeyLines walks the document with go-toml's parser. A document that
// does not parse gets an empty index; the decoder reports that error.
func indexKeyLines(data []byte) keyLines {
	lines := keyLines{}
	var p unstable.Parser
	p.Reset(data)
	var table string
	arrays := map[string]int{} // array table path -> count so far
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path := keyPath(e.Key())
			if e.Kind == unstable.ArrayTable {
				arrays[path]++
				path = fmt.Sprintf("%s[%d]", path, arrays[path]-1)
			} else {
				path = indexArrays(path, arrays)
			}
			table = path
			lines[table] = line(&p, e)
		case unstable.KeyValue:
			k := keyPath(e.Key())
			if table != "" {
				k = table + "." + k
			}
			lines[k] = line(&p, e)
		}
	}
	return lines
}

// indexArrays rewrites "accounts.imap" as "accounts[N].imap", N being the
// latest [[accounts]] entry, as TOML attaches sub-tables to it.
func indexArrays(path string, arrays map[string]int) string {
	parts := strings.Split(path, ".")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], ".")
		if n, ok := arrays[prefix]; ok {
			rest := strings.Join(parts[i+1:], ".")
			out := fmt.Sprintf("%s[%d]", prefix, n-1)
			if rest != "" {
				out += "." + rest
			}
			return out
		}
	}
	return path
}

func keyPath(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

func line(p *unstable.Parser, e *unstable.Node) int {
	it := e.Key()
	if it.Next() {
		return p.Shape(p.Range(it.Node().Data)).Start.Line
	}
	return p.Shape(e.Raw).Start.Line
}
