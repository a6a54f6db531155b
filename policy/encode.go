package policy

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// toValue builds the OPA value of x directly, without writing and reading
// JSON: the value equals what jsonToValue(json.Marshal(x)) gives. An *Input
// takes the hand-written converters of input_value.go; anything else follows
// encoding/json's rules for the shapes the input types use (json tags,
// omitempty, omitzero, pointers, maps, slices, numbers) and hands anything
// else (a type with its own MarshalJSON or MarshalText, embedded structs,
// byte slices, the ",string" option) to encoding/json for that part alone.
func toValue(x any) (ast.Value, error) {
	e := &encoder{}
	if in, ok := x.(*Input); ok && in != nil {
		return e.input(in)
	}
	v := reflect.ValueOf(x)
	if !v.IsValid() {
		return ast.Null{}, nil
	}
	return typeEncoder(v.Type())(e, v)
}

var (
	durationType      = reflect.TypeFor[metav1.Duration]()
	stringMapType     = reflect.TypeFor[map[string]string]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// encoderFunc converts one value of a type; they are built once per type,
// as encoding/json does, so that the reflection on types is not repeated
// for every value.
type encoderFunc func(e *encoder, v reflect.Value) (ast.Value, error)

var encoders sync.Map // reflect.Type -> encoderFunc

func typeEncoder(t reflect.Type) encoderFunc {
	if f, ok := encoders.Load(t); ok {
		return f.(encoderFunc)
	}
	// A recursive type meets itself while its encoder is being built: it
	// gets an indirection that waits for the real one.
	var (
		wg sync.WaitGroup
		f  encoderFunc
	)
	wg.Add(1)
	fi, loaded := encoders.LoadOrStore(t, encoderFunc(func(e *encoder, v reflect.Value) (ast.Value, error) {
		wg.Wait()
		return f(e, v)
	}))
	if loaded {
		return fi.(encoderFunc)
	}
	f = newTypeEncoder(t, true)
	wg.Done()
	encoders.Store(t, f)
	return f
}

// hasMarshaler reports whether encoding/json would call a method of t
// (MarshalJSON or MarshalText) on an addressable value of it.
func hasMarshaler(t reflect.Type) bool {
	return t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
		t.Kind() != reflect.Pointer && (reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType))
}

func newTypeEncoder(t reflect.Type, allowAddr bool) encoderFunc {
	if t == durationType {
		// metav1.Duration.MarshalJSON writes Duration.String() as a string.
		return func(_ *encoder, v reflect.Value) (ast.Value, error) {
			return ast.String(time.Duration(v.Field(0).Int()).String()), nil
		}
	}
	if t.Kind() == reflect.Pointer && t.Elem() == durationType {
		// encoding/json writes nil as null and calls the value method
		// otherwise: the duration's own encoder, without the JSON detour.
		elem := typeEncoder(durationType)
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			return elem(e, v.Elem())
		}
	}
	if t.Kind() != reflect.Pointer && allowAddr &&
		(reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)) {
		// encoding/json calls a pointer method only on addressable values.
		plain := newTypeEncoder(t, false)
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			if v.CanAddr() {
				return viaJSON(e, v)
			}
			return plain(e, v)
		}
	}
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) {
		return viaJSON
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := typeEncoder(t.Elem())
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			return elem(e, v.Elem())
		}
	case reflect.Interface:
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			x := v.Elem()
			return typeEncoder(x.Type())(e, x)
		}
	case reflect.String:
		return func(_ *encoder, v reflect.Value) (ast.Value, error) { return jsonString(v.String()), nil }
	case reflect.Bool:
		return func(_ *encoder, v reflect.Value) (ast.Value, error) { return ast.Boolean(v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(_ *encoder, v reflect.Value) (ast.Value, error) { return intValue(v.Int()), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(_ *encoder, v reflect.Value) (ast.Value, error) {
			return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil
		}
	case reflect.Float32, reflect.Float64:
		bits := t.Bits()
		return func(_ *encoder, v reflect.Value) (ast.Value, error) { return encodeFloat(v.Float(), bits) }
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return viaJSON // base64, as encoding/json writes it
		}
		elems := arrayEncoder(t)
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			return elems(e, v)
		}
	case reflect.Array:
		return arrayEncoder(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Key().Implements(textMarshalerType) {
			return viaJSON
		}
		if t == stringMapType {
			// Labels and selectors: no reflection per entry.
			return func(e *encoder, v reflect.Value) (ast.Value, error) {
				return e.stringMap(v.Interface().(map[string]string)), nil
			}
		}
		elem := typeEncoder(t.Elem())
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			var o objectBuilder
			o.init(v.Len())
			for it := v.MapRange(); it.Next(); {
				k := it.Key().String()
				if !utf8.ValidString(k) {
					// Keys that differ only in invalid bytes may collide once
					// encoding/json replaced them; let it decide.
					return viaJSON(e, v)
				}
				x, err := elem(e, it.Value())
				if err != nil {
					return nil, err
				}
				o.add(e.term(ast.String(k)), e.term(x))
			}
			return o.object(), nil
		}
	case reflect.Struct:
		fields, ok := structFields(t)
		if !ok {
			return viaJSON
		}
		return func(e *encoder, v reflect.Value) (ast.Value, error) {
			var o objectBuilder
			o.init(len(fields))
			for _, f := range fields {
				fv := v.Field(f.index)
				if f.omitted(fv) {
					continue
				}
				x, err := f.enc(e, fv)
				if err != nil {
					return nil, err
				}
				o.add(f.name, e.term(x))
			}
			return o.object(), nil
		}
	default:
		return viaJSON
	}
}

func arrayEncoder(t reflect.Type) encoderFunc {
	elem := typeEncoder(t.Elem())
	return func(e *encoder, v reflect.Value) (ast.Value, error) {
		elems := e.terms(v.Len())
		for i := range elems {
			x, err := elem(e, v.Index(i))
			if err != nil {
				return nil, err
			}
			elems[i] = e.term(x)
		}
		return ast.NewArray(elems...), nil
	}
}

// encodeFloat writes a float as encoding/json does, so the number's text
// (which OPA keeps) is the same.
func encodeFloat(f float64, bits int) (ast.Value, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("unsupported value: %s", strconv.FormatFloat(f, 'g', -1, bits))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	var buf [32]byte // on the stack: the text is copied once, into the Number
	b := strconv.AppendFloat(buf[:0], f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return ast.Number(b), nil
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func viaJSON(_ *encoder, v reflect.Value) (ast.Value, error) {
	raw, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return jsonToValue(raw)
}

type encField struct {
	index     int
	enc       encoderFunc
	name      *ast.Term
	omitEmpty bool
	omitZero  bool
}

// omitted reports whether encoding/json leaves the field's value out.
func (f *encField) omitted(v reflect.Value) bool {
	return f.omitEmpty && isEmpty(v) || f.omitZero && v.IsZero()
}

type encStruct struct {
	fields []encField
	ok     bool
}

// structFields lists the JSON fields of a struct type; ok is false for the
// shapes left to encoding/json (embedded fields, the ",string" option, an
// IsZero method that omitzero would call).
func structFields(t reflect.Type) ([]encField, bool) {
	s := encStruct{ok: true}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			s.ok = false
			break
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f := encField{index: i, name: ast.StringTerm(name), enc: typeEncoder(sf.Type)}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
				if _, has := sf.Type.MethodByName("IsZero"); has {
					s.ok = false
				}
			case "string":
				s.ok = false
			}
		}
		s.fields = append(s.fields, f)
	}
	return s.fields, s.ok
}

// structInfo is what reading a struct type key by key (lazyDoc) needs: its
// JSON fields and their names, and whether the full encoder treats it as a
// plain struct (no marshaler, no shape left to encoding/json, no two fields
// of one name).
type structInfo struct {
	fields []encField
	// names are the fields' names in order: a scan beats a map on structs
	// of a few dozen fields.
	names []string
	plain bool
}

// field returns the index of the field named name.
func (info *structInfo) field(name string) (int, bool) {
	for i, n := range info.names {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if i, ok := structInfos.Load(t); ok {
		return i.(*structInfo)
	}
	fields, ok := structFields(t)
	info := &structInfo{fields: fields, plain: ok && t != durationType && !hasMarshaler(t)}
	for _, f := range fields {
		name := string(f.name.Value.(ast.String))
		if slices.Contains(info.names, name) {
			info.plain = false
		}
		info.names = append(info.names, name)
	}
	i, _ := structInfos.LoadOrStore(t, info)
	return i.(*structInfo)
}
