package policy

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// toValue builds the OPA value of x directly, without writing and reading
// JSON: the value equals what jsonToValue(json.Marshal(x)) gives. It follows
// encoding/json's rules for the shapes the input types use (json tags,
// omitempty, omitzero, pointers, maps, slices, numbers) and hands anything
// else (a type with its own MarshalJSON or MarshalText, embedded structs,
// byte slices, the ",string" option) to encoding/json for that part alone.
func toValue(x any) (ast.Value, error) {
	v := reflect.ValueOf(x)
	if !v.IsValid() {
		return ast.Null{}, nil
	}
	return typeEncoder(v.Type())(v)
}

var (
	durationType      = reflect.TypeFor[metav1.Duration]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// encoderFunc converts one value of a type; they are built once per type,
// as encoding/json does, so that the reflection on types is not repeated
// for every value.
type encoderFunc func(v reflect.Value) (ast.Value, error)

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
	fi, loaded := encoders.LoadOrStore(t, encoderFunc(func(v reflect.Value) (ast.Value, error) {
		wg.Wait()
		return f(v)
	}))
	if loaded {
		return fi.(encoderFunc)
	}
	f = newTypeEncoder(t, true)
	wg.Done()
	encoders.Store(t, f)
	return f
}

func newTypeEncoder(t reflect.Type, allowAddr bool) encoderFunc {
	if t == durationType {
		// metav1.Duration.MarshalJSON writes Duration.String() as a string.
		return func(v reflect.Value) (ast.Value, error) {
			return ast.String(v.Interface().(metav1.Duration).Duration.String()), nil
		}
	}
	if t.Kind() != reflect.Pointer && allowAddr &&
		(reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)) {
		// encoding/json calls a pointer method only on addressable values.
		plain := newTypeEncoder(t, false)
		return func(v reflect.Value) (ast.Value, error) {
			if v.CanAddr() {
				return viaJSON(v)
			}
			return plain(v)
		}
	}
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) {
		return viaJSON
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := typeEncoder(t.Elem())
		return func(v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			return elem(v.Elem())
		}
	case reflect.Interface:
		return func(v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			e := v.Elem()
			return typeEncoder(e.Type())(e)
		}
	case reflect.String:
		return func(v reflect.Value) (ast.Value, error) {
			s := v.String()
			if !utf8.ValidString(s) {
				// encoding/json replaces each invalid byte; let it.
				return viaJSON(v)
			}
			return ast.String(s), nil
		}
	case reflect.Bool:
		return func(v reflect.Value) (ast.Value, error) { return ast.Boolean(v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value) (ast.Value, error) { return ast.Number(strconv.FormatInt(v.Int(), 10)), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(v reflect.Value) (ast.Value, error) { return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil }
	case reflect.Float32, reflect.Float64:
		bits := t.Bits()
		return func(v reflect.Value) (ast.Value, error) { return encodeFloat(v.Float(), bits) }
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return viaJSON // base64, as encoding/json writes it
		}
		elems := arrayEncoder(t)
		return func(v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			return elems(v)
		}
	case reflect.Array:
		return arrayEncoder(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Key().Implements(textMarshalerType) {
			return viaJSON
		}
		elem := typeEncoder(t.Elem())
		return func(v reflect.Value) (ast.Value, error) {
			if v.IsNil() {
				return ast.Null{}, nil
			}
			pairs := make([][2]*ast.Term, 0, v.Len())
			terms := make([]ast.Term, 2*v.Len())
			i := 0
			for it := v.MapRange(); it.Next(); i += 2 {
				k := it.Key().String()
				if !utf8.ValidString(k) {
					return viaJSON(v)
				}
				e, err := elem(it.Value())
				if err != nil {
					return nil, err
				}
				terms[i].Value, terms[i+1].Value = ast.String(k), e
				pairs = append(pairs, [2]*ast.Term{&terms[i], &terms[i+1]})
			}
			return ast.NewObject(pairs...), nil
		}
	case reflect.Struct:
		fields, ok := structFields(t)
		if !ok {
			return viaJSON
		}
		return func(v reflect.Value) (ast.Value, error) {
			pairs := make([][2]*ast.Term, 0, len(fields))
			terms := make([]ast.Term, len(fields)) // one allocation for all values
			for i, f := range fields {
				fv := v.Field(f.index)
				if f.omitEmpty && isEmpty(fv) || f.omitZero && fv.IsZero() {
					continue
				}
				e, err := f.enc(fv)
				if err != nil {
					return nil, err
				}
				terms[i].Value = e
				pairs = append(pairs, [2]*ast.Term{f.name, &terms[i]})
			}
			return ast.NewObject(pairs...), nil
		}
	default:
		return viaJSON
	}
}

func arrayEncoder(t reflect.Type) encoderFunc {
	elem := typeEncoder(t.Elem())
	return func(v reflect.Value) (ast.Value, error) {
		elems := make([]*ast.Term, v.Len())
		terms := make([]ast.Term, len(elems))
		for i := range elems {
			e, err := elem(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i].Value = e
			elems[i] = &terms[i]
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
	b := strconv.AppendFloat(nil, f, format, -1, bits)
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

func viaJSON(v reflect.Value) (ast.Value, error) {
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
