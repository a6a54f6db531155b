package irvm

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// nativeCases are arguments, in Rego syntax, for every native builtin: the
// cases the natives answer and the ones they must leave to OPA (type
// errors, big and floating-point numbers, bad strings, unknown zones).
var nativeCases = map[string][]string{
	"object.get": {
		`{"a": 1}, "a", 0`, `{"a": 1}, "b", 0`, `{"a": {"b": [1, {"c": 2}]}}, ["a", "b", 1, "c"], 0`,
		`{"a": {"b": 1}}, ["a", "b", "c"], "d"`, `{"a": "s"}, ["a", 0], "d"`, `{"a": {"b": 1}}, [], "d"`,
		`{"a": [1, 2]}, ["a", 5], null`, `{"a": {"x"}}, ["a", "x"], 0`, `{1: "one"}, 1, 0`, `{1: "one"}, 1.0, 0`,
		`{"a": 1}, {"a"}, 0`, `[1], 0, 0`, `"s", "a", 0`, `null, ["a"], 0`, `{}, ["a"], {}`,
	},
	"count": {`[1, 2]`, `{"a": 1}`, `{1, 2, 3}`, `"héllo"`, `""`, `1`, `null`, `true`},
	"internal.member_2": {
		`1, {1, 2}`, `3, {1, 2}`, `1, [1.0, 2]`, `"a", ["b"]`, `1, {"k": 1}`, `"k", {"k": 1}`, `1, "1"`, `null, null`,
	},
	"or":  {`{1}, {2}`, `set(), {2}`, `{1}, set()`, `set(), set()`, `{1}, [2]`, `[1], {2}`, `1, 2`},
	"gt":  {`1, 2`, `2, 1`, `1, 1.0`, `"a", 1`, `[1], [0, 1]`, `100000000000000000000, 1`, `1.5, 1.25`, `null, false`},
	"gte": {`1, 2`, `2, 2`, `1e3, 1000`},
	"lt":  {`1, 2`, `"b", "a"`, `{}, []`},
	"lte": {`2, 2`, `3, 2`, `-1, -1.0`},
	"equal": {
		`1, 1`, `1, 1.0`, `"a", "a"`, `{"a": [1]}, {"a": [1]}`, `{1}, {1, 2}`, `null, false`,
	},
	"neq": {`1, 1`, `1, 2`, `true, true`, `[1], [1.0]`},
	"plus": {
		`1, 2`, `-3, 2`, `2147483647, 1`, `2147483648, 1`, `1.5, 1`, `1.0, 1`, `1e2, 1`, `"1", 2`, `1, null`,
		`9223372036854775807, 1`, `100000000000000000000, 1`,
	},
	"minus":      {`5, 7`, `{1, 2}, {2}`, `{1}, 1`, `1, {1}`, `"a", 1`, `0.1, 0.2`, `-2147483648, 1`},
	"mul":        {`6, 7`, `65536, 65536`, `2147483647, 2147483647`, `1.5, 2`, `-4, 0`},
	"div":        {`6, 3`, `7, 2`, `1, 0`, `0, 5`, `0, 0`, `-8, 2`, `1.0, 0`, `9, 3.0`},
	"rem":        {`7, 3`, `-7, 3`, `7, 0`, `7.5, 2`, `100000000000000000000, 7`},
	"startswith": {`"abc", "ab"`, `"abc", "bc"`, `"", ""`, `1, "a"`, `"a", 1`},
	"endswith":   {`"abc", "bc"`, `"abc", "ab"`, `"x", ""`, `["a"], "a"`},
	"lower":      {`"ABC"`, `"abc"`, `"ÄÖ"`, `""`, `1`},
	"substring": {
		`"Thursday", 0, 3`, `"abc", 1, -1`, `"abc", 5, 1`, `"abc", 0, 10`, `"abc", -1, 1`, `"abc", 1.5, 1`,
		`"abc", 1.0, 1`, `"", 0, 1`, `"héllo", 1, 2`, `"abc", 0, 9999999999`, `1, 0, 1`, `"abc", "0", 1`,
	},
	"concat": {
		`", ", ["a", "b"]`, `"", []`, `"-", ["x"]`, `"-", [1]`, `"-", ["a", 1]`, `", ", {"b", "a"}`, `1, ["a"]`,
		`"", ["a", "b", "c"]`,
	},
	"time.parse_duration_ns": {
		`"5m"`, `"1h30m"`, `"-10s"`, `"0"`, `""`, `"bogus"`, `"1d"`, `"2w"`, `"1.5h"`, `"9999999999h"`, `1`,
		`"300ms"`, `"1y"`,
	},
	"time.parse_rfc3339_ns": {
		`"2026-11-26T12:00:00Z"`, `"2026-11-26T12:00:00+01:00"`, `"2026-11-26T12:00:00.5Z"`, `"2026-11-26"`,
		`"3000-01-01T00:00:00Z"`, `"1600-01-01T00:00:00Z"`, `1`,
	},
	"time.clock": {
		`1795690800000000000`, `[1795690800000000000, "Europe/Berlin"]`, `[1795690800000000000, "Asia/Kolkata"]`,
		`[1795690800000000000, ""]`, `[1795690800000000000, "UTC"]`, `[1795690800000000000, "Local"]`,
		`[1795690800000000000, "Mars/Olympus"]`, `[1795690800000000000, 1]`, `[]`, `[1, "UTC", "x"]`, `[1, "UTC", 3]`,
		`-1`, `1.5e18`, `1795690800000000000.0`, `100000000000000000000`, `"1"`, `[-86400000000000, "America/New_York"]`,
		`9223372036854775807`, `-9223372036854775808`,
	},
	"time.weekday": {
		`1795690800000000000`, `[1795690800000000000, "Pacific/Chatham"]`, `[0, "Nowhere/Else"]`, `[1.5, "UTC"]`, `null`,
	},
	"time.date": {
		`1795690800000000000`, `[1795690800000000000, "America/New_York"]`, `[1, 2]`, `true`,
	},
}

// TestNativesAgreeWithOPA checks the contract of every native: it answers
// exactly what OPA's implementation does, or leaves the call to it, and it
// leaves every call OPA fails to it.
func TestNativesAgreeWithOPA(t *testing.T) {
	for name := range natives {
		if len(nativeCases[name]) == 0 {
			t.Errorf("native %s has no cases", name)
		}
	}
	for name, cases := range nativeCases {
		nf := natives[name]
		if nf == nil {
			t.Errorf("no native %s", name)
			continue
		}
		answered := 0
		for _, c := range cases {
			args := ast.MustParseTerm("[" + c + "]").Value.(*ast.Array)
			terms := make([]*ast.Term, args.Len())
			for i := range terms {
				terms[i] = args.Elem(i)
			}
			if len(terms) != nativeArity(name) {
				t.Fatalf("%s(%s): %d arguments, the builtin takes %d", name, c, len(terms), nativeArity(name))
			}
			var want *ast.Term
			err := topdown.GetBuiltin(name)(topdown.BuiltinContext{Context: context.Background()}, terms, func(r *ast.Term) error {
				want = r
				return nil
			})
			got := nf(terms)
			switch {
			case got == nil:
			case err != nil:
				t.Errorf("%s(%s) = %v, OPA fails: %v", name, c, got, err)
			case ast.Compare(got.Value, want.Value) != 0 || fmt.Sprintf("%T", got.Value) != fmt.Sprintf("%T", want.Value):
				t.Errorf("%s(%s) = %v, OPA says %v", name, c, got, want)
			default:
				answered++
			}
		}
		if answered == 0 {
			t.Errorf("%s answered none of its cases", name)
		}
	}
}

// Numbers keep their text: a native's number reads as OPA's does.
func TestNativeNumbersKeepOPAsText(t *testing.T) {
	for _, c := range []struct{ name, args string }{
		{"plus", `1, 2`}, {"mul", `65536, 32767`}, {"minus", `1, 5`}, {"div", `-8, 2`},
		{"time.parse_duration_ns", `"-90m"`}, {"time.parse_rfc3339_ns", `"1969-12-31T23:59:59Z"`},
	} {
		args := ast.MustParseTerm("[" + c.args + "]").Value.(*ast.Array)
		terms := []*ast.Term{args.Elem(0)}
		if args.Len() > 1 {
			terms = append(terms, args.Elem(1))
		}
		var want *ast.Term
		if err := topdown.GetBuiltin(c.name)(topdown.BuiltinContext{}, terms, func(r *ast.Term) error { want = r; return nil }); err != nil {
			t.Fatal(err)
		}
		got := natives[c.name](terms)
		if got == nil || got.String() != want.String() {
			t.Errorf("%s(%s) = %v, OPA says %v", c.name, c.args, got, want)
		}
	}
}
