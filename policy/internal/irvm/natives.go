package irvm

import (
	"cmp"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A native is a Go implementation of one of OPA's builtins for the common
// case, over the argument values directly: no BuiltinContext, no result
// callback, no error wrapping. It returns nil whenever it is not sure to
// give exactly topdown's result (a type error, a big or floating-point
// number, a string it does not parse, an unknown time zone): callBuiltin
// then runs OPA's own implementation, so that results and error messages
// stay topdown's. A native never fails and never sees undefined arguments.
type native func(args []*ast.Term) *ast.Term

// natives by builtin name and arity; each copies the code of the topdown
// builtin it stands for (OPA v1.22.3) for the cases it handles.
var natives = map[string]native{
	ast.ObjectGet.Name:          nativeObjectGet,
	ast.Count.Name:              nativeCount,
	ast.Member.Name:             nativeMember,
	ast.Or.Name:                 nativeSetUnion,
	ast.GreaterThan.Name:        compareWith(func(c int) bool { return c > 0 }),
	ast.GreaterThanEq.Name:      compareWith(func(c int) bool { return c >= 0 }),
	ast.LessThan.Name:           compareWith(func(c int) bool { return c < 0 }),
	ast.LessThanEq.Name:         compareWith(func(c int) bool { return c <= 0 }),
	ast.Equal.Name:              func(a []*ast.Term) *ast.Term { return ast.InternedTerm(a[0].Equal(a[1])) },
	ast.NotEqual.Name:           func(a []*ast.Term) *ast.Term { return ast.InternedTerm(!a[0].Equal(a[1])) },
	ast.Plus.Name:               smallArith(func(x, y int64) (int64, bool) { return x + y, true }),
	ast.Minus.Name:              smallArith(func(x, y int64) (int64, bool) { return x - y, true }),
	ast.Multiply.Name:           smallArith(func(x, y int64) (int64, bool) { return x * y, true }),
	ast.Divide.Name:             smallArith(divide),
	ast.Rem.Name:                smallArith(rem),
	ast.StartsWith.Name:         stringPredicate(strings.HasPrefix),
	ast.EndsWith.Name:           stringPredicate(strings.HasSuffix),
	ast.Lower.Name:              nativeLower,
	ast.Substring.Name:          nativeSubstring,
	ast.Concat.Name:             nativeConcat,
	ast.ParseDurationNanos.Name: nativeParseDuration,
	ast.ParseRFC3339Nanos.Name:  nativeParseRFC3339,
	ast.Clock.Name:              nativeClock,
	ast.Weekday.Name:            nativeWeekday,
	ast.Date.Name:               nativeDate,
}

// nativeArity is the number of arguments each native takes; calls with
// another number (never planned) run OPA's implementation.
func nativeArity(name string) int {
	if b, ok := ast.BuiltinMap[name]; ok && b.Decl != nil {
		return len(b.Decl.FuncArgs().Args)
	}
	return -1
}

// lazyNatives read Lazy arguments (see Lazy) themselves: they only look
// keys up, count or search an array.
var lazyNatives = map[string]bool{
	ast.ObjectGet.Name: true,
	ast.Count.Name:     true,
	ast.Member.Name:    true,
}

// object.get: builtinObjectGet. The object may be Lazy; the path and the
// default arrive as they are, and a Lazy default is a value like any other.
func nativeObjectGet(a []*ast.Term) *ast.Term {
	curr, path, def := a[0], a[1], a[2]
	switch v := curr.Value.(type) {
	case ast.Object:
	case *Lazy:
		if v.Doc.IsArray() {
			return nil
		}
	default:
		return nil
	}
	path = materialize(path)
	if path == nil {
		return nil
	}
	arr, ok := path.Value.(*ast.Array)
	if !ok {
		return cmp.Or(dot(curr, path), def)
	}
	for i := range arr.Len() {
		if curr = dot(curr, arr.Elem(i)); curr == nil {
			break
		}
	}
	return cmp.Or(curr, def)
}

// count: builtinCount, which counts what length does. The collection may
// be Lazy.
func nativeCount(a []*ast.Term) *ast.Term {
	if n, ok := length(a[0]); ok {
		return ast.InternedTerm(n)
	}
	return nil
}

// internal.member_2 (x in c): builtinMember, which never fails.
func nativeMember(a []*ast.Term) *ast.Term {
	x, c := materialize(a[0]), a[1]
	if x == nil {
		return nil
	}
	if lz, ok := lazyOf(c); ok {
		if !lz.Doc.IsArray() {
			if c = lz.Term(); c == nil {
				return nil
			}
		} else {
			for i := range lz.Doc.Len() {
				if e := materialize(lz.Doc.Get(ast.InternedTerm(i))); e != nil && x.Equal(e) {
					return ast.InternedTerm(true)
				}
			}
			return ast.InternedTerm(false)
		}
	}
	switch c := c.Value.(type) {
	case ast.Set:
		return ast.InternedTerm(c.Contains(x))
	case *ast.Array:
		return ast.InternedTerm(c.Until(x.Equal))
	case ast.Object:
		return ast.InternedTerm(c.Until(func(_, v *ast.Term) bool { return x.Equal(v) }))
	}
	return ast.InternedTerm(false)
}

// or (set union, a | b): builtinBinaryOr.
func nativeSetUnion(a []*ast.Term) *ast.Term {
	s1, ok1 := a[0].Value.(ast.Set)
	s2, ok2 := a[1].Value.(ast.Set)
	switch {
	case !ok1 || !ok2:
		return nil
	case s1.Len() == 0:
		return a[1]
	case s2.Len() == 0:
		return a[0]
	}
	return ast.NewTerm(s1.Union(s2))
}

// gt, gte, lt, lte: builtinGreaterThan and co. compare any two values.
func compareWith(holds func(int) bool) native {
	return func(a []*ast.Term) *ast.Term {
		return ast.InternedTerm(holds(a[0].Value.Compare(a[1].Value)))
	}
}

// Bounds of the ints topdown's arithmetic computes on int64 (smallInt).
const (
	minSmallInt = -1 << 31
	maxSmallInt = 1<<31 - 1
)

// smallInt is topdown's smallInt for numbers written as plain integers;
// anything else ("1.0", "1e3", big numbers) is left to topdown.
func smallInt(t *ast.Term) (int64, bool) {
	n, ok := t.Value.(ast.Number)
	if !ok || !plainInt(string(n)) {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil && minSmallInt <= i && i <= maxSmallInt
}

// plainInt reports whether s is an optional minus and decimal digits.
func plainInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// smallArith is arithOp.eval's first case (both operands small ints, an
// int result), which is all the library computes; the rest is topdown's.
func smallArith(op func(x, y int64) (int64, bool)) native {
	return func(a []*ast.Term) *ast.Term {
		x, ok := smallInt(a[0])
		if !ok {
			return nil
		}
		y, ok := smallInt(a[1])
		if !ok {
			return nil
		}
		r, ok := op(x, y)
		if !ok {
			return nil
		}
		return ast.IntNumberTerm(int(r))
	}
}

// divide is opDivide.small: an int only when the divisor divides a
// non-zero dividend; zero divisors are topdown's error.
func divide(x, y int64) (int64, bool) {
	if y == 0 || x == 0 || x%y != 0 {
		return 0, false
	}
	return x / y, true
}

func rem(x, y int64) (int64, bool) {
	if y == 0 {
		return 0, false
	}
	return x % y, true
}

// startswith, endswith: builtinStartsWith, builtinEndsWith.
func stringPredicate(f func(s, affix string) bool) native {
	return func(a []*ast.Term) *ast.Term {
		s, ok1 := a[0].Value.(ast.String)
		x, ok2 := a[1].Value.(ast.String)
		if !ok1 || !ok2 {
			return nil
		}
		return ast.InternedTerm(f(string(s), string(x)))
	}
}

// lower: builtinLower.
func nativeLower(a []*ast.Term) *ast.Term {
	s, ok := a[0].Value.(ast.String)
	if !ok {
		return nil
	}
	low := strings.ToLower(string(s))
	if low == string(s) {
		return a[0]
	}
	return ast.InternedTerm(low)
}

// substring: builtinSubstring's ASCII path, with integer offsets.
func nativeSubstring(a []*ast.Term) *ast.Term {
	base, ok := a[0].Value.(ast.String)
	if !ok {
		return nil
	}
	start, ok := smallInt(a[1])
	if !ok || start < 0 {
		return nil
	}
	length, ok := smallInt(a[2])
	if !ok {
		return nil
	}
	s := string(base)
	if s == "" {
		return ast.InternedEmptyString
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return nil
		}
	}
	startIndex, n := int(start), int(length)
	switch {
	case startIndex >= len(s):
		return ast.InternedEmptyString
	case n < 0:
		return ast.InternedTerm(s[startIndex:])
	case startIndex == 0 && n >= len(s):
		return a[0]
	}
	return ast.InternedTerm(s[startIndex : startIndex+min(n, len(s)-startIndex)])
}

// concat: builtinConcat for an array of strings.
func nativeConcat(a []*ast.Term) *ast.Term {
	sep, ok := a[0].Value.(ast.String)
	arr, ok2 := a[1].Value.(*ast.Array)
	if !ok || !ok2 {
		return nil
	}
	switch arr.Len() {
	case 0:
		return ast.InternedEmptyString
	case 1:
		if _, ok := arr.Elem(0).Value.(ast.String); ok {
			return arr.Elem(0)
		}
		return nil
	}
	var b strings.Builder
	n := len(sep) * (arr.Len() - 1)
	for i := range arr.Len() {
		s, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return nil
		}
		n += len(s)
	}
	b.Grow(n)
	for i := range arr.Len() {
		if i > 0 {
			b.WriteString(string(sep))
		}
		b.WriteString(string(arr.Elem(i).Value.(ast.String)))
	}
	return ast.StringTerm(b.String())
}

// time.parse_duration_ns: builtinParseDurationNanos for Go's own units
// (topdown parses d, w and y itself).
func nativeParseDuration(a []*ast.Term) *ast.Term {
	s, ok := a[0].Value.(ast.String)
	if !ok || s == "" || strings.ContainsAny(string(s), "dwy") {
		return nil
	}
	d, err := time.ParseDuration(string(s))
	if err != nil {
		return nil
	}
	return intNumber(int64(d))
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// time.parse_rfc3339_ns: builtinTimeParseRFC3339Nanos.
func nativeParseRFC3339(a []*ast.Term) *ast.Term {
	s, ok := a[0].Value.(ast.String)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339, string(s))
	if err != nil || t.Before(minNanoTime) || t.After(maxNanoTime) {
		return nil
	}
	return intNumber(t.UnixNano())
}

func intNumber(i int64) *ast.Term {
	if 0 <= i && i < 512 {
		return ast.InternedTerm(int(i))
	}
	return ast.NumberTerm(json.Number(strconv.FormatInt(i, 10)))
}

// time.clock: builtinClock.
func nativeClock(a []*ast.Term) *ast.Term {
	t, ok := tzTime(a[0])
	if !ok {
		return nil
	}
	h, m, s := t.Clock()
	return ast.NewTerm(ast.NewArray(ast.InternedTerm(h), ast.InternedTerm(m), ast.InternedTerm(s)))
}

// time.date: builtinDate.
func nativeDate(a []*ast.Term) *ast.Term {
	t, ok := tzTime(a[0])
	if !ok {
		return nil
	}
	y, m, d := t.Date()
	return ast.NewTerm(ast.NewArray(ast.InternedTerm(y), ast.InternedTerm(int(m)), ast.InternedTerm(d)))
}

var weekdays = func() (w [7]*ast.Term) {
	for i := range w {
		w[i] = ast.StringTerm(time.Weekday(i).String())
	}
	return w
}()

// time.weekday: builtinWeekday.
func nativeWeekday(a []*ast.Term) *ast.Term {
	t, ok := tzTime(a[0])
	if !ok {
		return nil
	}
	return weekdays[t.Weekday()]
}

// tzTime is topdown's tzTime for an integer number of nanoseconds, alone
// or in an array with a time zone: exactly the integers topdown's
// big.Float conversion gives back exactly. Unknown zones are topdown's
// error.
func tzTime(arg *ast.Term) (time.Time, bool) {
	ns, loc := arg, time.UTC
	if arr, ok := arg.Value.(*ast.Array); ok {
		if arr.Len() == 0 || arr.Len() > 2 {
			return time.Time{}, false
		}
		ns = arr.Elem(0)
		if arr.Len() == 2 {
			tz, ok := arr.Elem(1).Value.(ast.String)
			if !ok {
				return time.Time{}, false
			}
			if loc, ok = location(string(tz)); !ok {
				return time.Time{}, false
			}
		}
	}
	n, ok := ns.Value.(ast.Number)
	if !ok || !plainInt(string(n)) {
		return time.Time{}, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, i).In(loc), true
}

var locations sync.Map // zone name -> *time.Location, loaded ones only

// location is the zone topdown's tzTime uses for name.
func location(name string) (*time.Location, bool) {
	switch name {
	case "", "UTC":
		return time.UTC, true
	case "Local":
		return time.Local, true
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), true
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	locations.Store(name, l)
	return l, true
}
