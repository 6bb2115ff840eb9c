#!/usr/bin/env python3
"""Generate the Jinja reference fixtures for Tests/TokenizerTests/Jinja*.swift.

Renders with real Python jinja2, configured exactly like Hugging Face transformers'
`chat_template_utils._compile_jinja_template` (ImmutableSandboxedEnvironment,
trim_blocks=True, lstrip_blocks=True, loopcontrols + a `generation` tag, `tojson` via
json.dumps with ensure_ascii=False, globals `raise_exception` and `strftime_now`).
`strftime_now` uses a fixed clock (FIXED_NOW) so fixtures are deterministic; the Swift
tests inject the same local date-time.

Usage (from the repo root):
    python3 -m venv .venv-reference && .venv-reference/bin/pip install jinja2
    .venv-reference/bin/python scripts/reference/make_jinja_fixtures.py

Writes Tests/Fixtures/jinja/{unit_cases,chat_cases,chat_breadth_cases}.json.
Templates are read from Tests/Fixtures/jinja/templates/ (copied byte-for-byte from
shared/testdata/chat-templates/, plus the SmolLM2 ChatML template).
"""

import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "jinja")
TEMPLATES = os.path.join(FIXTURES, "templates")
FIXED_NOW = datetime(2025, 1, 15, 12, 30, 45)


def make_env(trim_blocks=True, lstrip_blocks=True):
    class AssistantTracker(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            call = self.call_method("_generation_support")
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        @jinja2.pass_eval_context
        def _generation_support(self, context, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=trim_blocks,
        lstrip_blocks=lstrip_blocks,
        extensions=[AssistantTracker, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


HF_ENV = make_env()

# (name, template, context) or (name, template, context, options)
UNIT = [
    # --- text, comments, whitespace control ---
    ("text_plain", "Hello, world!", {}),
    ("print_values", "{{ s }}|{{ i }}|{{ f }}|{{ b }}|{{ n }}|{{ u }}", {"s": "str", "i": 42, "f": 2.5, "b": True, "n": None}),
    ("comment_removed", "a{# comment {{ x }} #}b", {}),
    ("strip_block_dash", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c", {}),
    ("strip_variable_dash", "a \n {{- 'x' -}} \n b", {}),
    ("trim_blocks", "{% if true %}\nX\n{% endif %}\nY", {}),
    ("lstrip_blocks", "  {% if true %}\n  X\n  {% endif %}\nY", {}),
    ("lstrip_not_variables", "  {{ 'x' }}\n\t{% if true %}y{% endif %}", {}),
    ("lstrip_only_whitespace_prefix", "a  {% if true %}\n  X\n  {% endif %}\nb", {}),
    ("plus_disables_strip", "  {%+ if true +%}\nX{% endif %}", {}),
    ("comment_lstrip_trim", "  {# c #}\nX\n  {#- d -#}  Y", {}),
    ("raw_block", "{% raw %}{{ x }}{% if %}{% endraw %}!", {"x": 1}),
    ("raw_block_dash", "a {%- raw -%} {{ x }} {%- endraw -%} b", {}),
    ("trailing_newline_removed", "X\n", {}),
    ("trailing_two_newlines", "X\n\n", {}),
    ("crlf_normalized", "a\r\nb\rc{% if true %}\r\nd{% endif %}", {}),
    ("no_trim_options", "  {% if true %}\nX\n  {% endif %}\nY", {}, {"trim_blocks": False, "lstrip_blocks": False}),
    ("trim_only_option", "  {% if true %}\nX\n  {% endif %}\nY", {}, {"trim_blocks": True, "lstrip_blocks": False}),
    ("generation_block", "A{% generation %}gen {{ x }}{% endgeneration %}B", {"x": 1}),
    # --- literals ---
    ("string_escapes", r"""{{ 'a\'b' }}|{{ "c\"d" }}|{{ 'tab\there' }}|{{ 'nl\nx' }}|{{ 'back\\slash' }}|{{ '\x41\u00e9\U0001F600' }}|{{ '\d\q' }}""", {}),
    ("string_adjacent_concat", "{{ 'a' 'b' \"c\" }}", {}),
    ("numbers", "{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 2.5E-3 }} {{ 1_000 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }}", {}),
    ("float_repr", "{{ [1e16, 1e15, 1.5e-7, 0.0001, 0.00001, 100.0, 3.14, 1/3, 2.5e-300, -0.0, 123456789.125] }}", {}),
    ("containers_repr", "{{ [1, 'a', none, true, 1.0, {'k': [1, false]}] }} {{ {} }} {{ [] }}", {}),
    ("string_repr_quotes", """{{ ["it's", 'say "hi"', 'a\\nb', 'both \\' and "', 'tab\\t', 'é'] }}""", {}),
    ("bool_none_literals", "{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }}", {}),
    ("dict_literal_trailing_comma", "{% set d = {'a': 1, 'b': {'c': [1, 2,],},} %}{{ d.b.c[1] }} {{ d|length }}", {}),
    # --- operators ---
    ("arith_int", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("arith_float", "{{ 1.5 * 2 }} {{ 6 / 3 }} {{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ -7.5 % 2 }} {{ 2 ** 0.5 }} {{ 1 + true }}", {}),
    ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ true ~ 1.0 ~ undefined_var ~ [1] }}", {}),
    ("string_list_mult", "{{ 'ab' * 3 }} {{ [1, 2] * 2 }} {{ 3 * 'x' }}", {}),
    ("list_concat", "{{ [1] + [2, 3] }} {{ 'a' + 'b' }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ 'B' < 'a' }} {{ true == 1 }} {{ none == none }}", {}),
    ("logic_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ not 0 }} {{ '' and 'z' }} {{ not [] }} {{ 1 and 0 or 5 }}", {}),
    ("in_operator", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 'x' in undefined_var }} {{ [1] in [[1], 2] }}", {}),
    ("ternary", "{{ 'y' if x else 'n' }} {{ 'y' if not x else 'n' }} [{{ 'y' if false }}] {{ 1 if false else 2 if true else 3 }}", {"x": True}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ not true or true }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }} {{ 2 * 3 ~ 4 }} {{ 1 + 1 == 2 and 'ok' }}", {}),
    ("unary_filter_binding", "{{ -3|abs }} {{ -(3|abs) }} {{ - 2 + 5 }}", {}),
    ("division_by_zero_error", "{{ 1 // 0 }}", {}),
    ("add_type_error", "{{ 'a' + 1 }}", {}),
    # --- tests ---
    ("test_defined", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ x is not defined }} {{ d.k is defined }} {{ d.z is defined }} {{ none is defined }}", {"x": 1, "d": {"k": None}}),
]

_VALS = [1, 1.5, "a", None, True, False, [1], {"a": 1}, ""]
for _t in ["none", "string", "number", "integer", "float", "mapping", "iterable", "sequence", "boolean", "true", "false", "callable"]:
    UNIT.append(("test_%s" % _t, "{%% for v in vals %%}{{ v is %s }},{%% endfor %%}{{ u is %s }}" % (_t, _t), {"vals": _VALS}))

UNIT += [
    ("test_numeric", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 4 is not odd }}", {}),
    ("test_compare", "{{ 1 is eq 1 }} {{ 'a' is equalto 'a' }} {{ 1 is ne 2 }} {{ 3 is gt 2 }} {{ 3 is lt 2 }} {{ 3 is ge 3 }} {{ 2 is le 1 }} {{ 'a' is in 'cat' }} {{ x is sameas x }}", {"x": [1]}),
    ("test_case", "{{ 'abc' is lower }} {{ 'aBc' is lower }} {{ 'ABC' is upper }} {{ 'A1' is upper }}", {}),
    ("test_callable_values", "{{ namespace is callable }} {{ 'a'.upper is callable }} {{ 1 is callable }}", {}),
    # --- attribute / subscript ---
    ("attr_and_item", "{{ d.a }} {{ d['a'] }} {{ d.b.c }} {{ d['b']['c'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} [{{ d.missing }}] [{{ l[10] }}]", {"d": {"a": 1, "b": {"c": "deep"}}, "l": ["x", "y", "z"]}),
    ("slicing", "{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ s[1:3] }} {{ s[::-1] }} {{ l[-2:] }} {{ l[5:] }} {{ l[1:-1] }} {{ s[-3::-1] }} {{ l[:] }}", {"l": [1, 2, 3, 4], "s": "hello"}),
    ("attr_of_undefined_error", "{{ nope.attr }}", {}),
    ("item_of_missing_error", "{{ d.missing.deeper }}", {"d": {}}),
    ("attr_of_none", "[{{ n.x }}] {{ n.x is defined }}", {"n": None}),
    ("unicode_strings", "{{ s|length }} {{ s[::-1] }} {{ s[1] }} {{ s|upper }} {{ s.split('l') }}", {"s": "héllo😀日本"}),
    # --- string methods ---
    ("str_strip", "[{{ '  x  '.strip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ '  x '.lstrip() }}] [{{ '\\n\\nx\\n'.lstrip('\\n') }}] [{{ 'x  \\n'.rstrip() }}] [{{ 'abcba'.rstrip('ab') }}]", {}),
    ("str_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a</think>b</think>c'.split('</think>', 1)[1] }} {{ 'abc'.split('x') }} {{ ''.split() }} {{ ''.split(',') }} {{ ' a b c '.split(none, 1) }}", {}),
    ("str_rsplit_splitlines", "{{ 'a,b,c'.rsplit(',', 1) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}", {}),
    ("str_starts_ends", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }}", {}),
    ("str_case", "{{ 'hello WORLD'.upper() }} {{ 'HeLLo'.lower() }} {{ 'hello world-foo'.title() }} {{ 'hELLO wORLD'.capitalize() }} {{ 'ab'.swapcase() }}", {}),
    ("str_replace", "{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'a/think b'.replace('/think', '') }}", {}),
    ("str_find_count", "{{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ 'hello'.index('e') }}", {}),
    ("str_join_method", "{{ ', '.join(['a', 'b', 'c']) }} {{ ''.join('xyz') }}", {}),
    ("str_format", "{{ '{} and {}'.format(1, 'x') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} {{ '<{}>'.format(none) }} {{ '{{literal}} {}'.format(2) }}", {}),
    ("str_percent_format", "{{ '%s is %d' % ('x', 3) }} {{ '%.2f' % 3.14159 }} {{ '%05d' % 42 }} {{ '%s' % none }} {{ '%s' % 'one' }} {{ '100%%' % () }}", {}),
    ("str_predicates", "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ 'a1'.isalnum() }} {{ ' '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }}", {}),
    # --- dict / list methods ---
    ("dict_methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}", {"d": {"b": 1, "a": 2}}),
    ("list_methods", "{{ l.index(2) }} {{ l.count(1) }}", {"l": [1, 2, 1]}),
    ("list_append_is_unsafe", "{% set l = [] %}{% set _ = l.append(1) %}{{ l }}", {}),
    # --- filters ---
    ("filter_tojson", "{{ x|tojson }}", {"x": {"a": [1, 2.0, "é", None, True], "b": "<>&\"'\\\n\t\u2028\u0001", "c": {}, "d": []}}),
    ("filter_tojson_indent", "{{ x|tojson(indent=2) }}\n{{ x|tojson(indent=4) }}", {"x": {"a": [1, {}], "b": [], "c": {"d": 1, "e": [None]}}}),
    ("filter_tojson_options", "{{ x|tojson(separators=(',', ':')) }} {{ x|tojson(sort_keys=true) }} {{ x|tojson(ensure_ascii=true) }} {{ 'str'|tojson }} {{ 1.0|tojson }} {{ none|tojson }}", {"x": {"z": 1, "a": "é😀"}}),
    ("filter_tojson_undefined_error", "{{ nope|tojson }}", {}),
    ("filter_basic", "[{{ '  hi  '|trim }}] [{{ 'xxhixx'|trim('x') }}] {{ [1, 2, 3]|length }} {{ 'abc'|count }} {{ {'a': 1}|length }} {{ [4, 5]|first }} {{ [4, 5]|last }} {{ 'abc'|list }} {{ 12|string }} {{ [1]|string }}", {}),
    ("filter_int_float", "{{ '42'|int }} {{ '3.7'|int }} {{ 'abc'|int }} {{ 'abc'|int(7) }} {{ 3.9|int }} {{ '1.5'|float }} {{ 2|float }} {{ 'x'|float }} {{ '0x1A'|int(0, 16) }} {{ true|int }}", {}),
    ("filter_case", "{{ 'Hello'|lower }} {{ 'Hello'|upper }} {{ 'hello world-foo (bar)x'|title }} {{ 'hELLO'|capitalize }}", {}),
    ("filter_replace_join", "{{ 'aaa'|replace('a', 'b', 2) }} {{ [1, 2, 3]|join(', ') }} {{ users|join('/', attribute='name') }} {{ ['a', 'b']|join }}", {"users": [{"name": "ann"}, {"name": "bob"}]}),
    ("filter_default", "{{ u|default('d') }} {{ u|d('d2') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ 0|d(5, boolean=true) }} {{ 'v'|default('x') }}", {}),
    ("filter_safe_escape", "{{ '<b>&\"\\''|e }} {{ '<b>'|safe }} {{ '<i>'|escape }}", {}),
    ("filter_items_dictsort", "{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %} {% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %} {% for k, v in d|dictsort(by='value', reverse=true) %}{{ k }}{{ v }}{% endfor %} {% for k, v in d|dictsort(true) %}{{ k }}{% endfor %}", {"d": {"b": 3, "a": 1, "C": 2}}),
    ("filter_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} {{ msgs|rejectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} {{ msgs|selectattr('flag')|list|length }} {{ msgs|selectattr('flag', 'defined')|list|length }} {{ msgs|rejectattr('flag', 'defined')|list|length }}", {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "flag": False}, {"role": "user", "content": "c", "flag": True}]}),
    ("filter_select_reject", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ ['a', 1, none]|select('string')|list }} {{ [1, 5, 9]|select('gt', 3)|list }}", {}),
    ("filter_map", "{{ users|map(attribute='name')|list }} {{ ['a', 'b']|map('upper')|list }} {{ ['1', '2']|map('int')|sum }} {{ users|map(attribute='age', default=0)|list }} {{ ['a b', 'c']|map('replace', ' ', '_')|list }}", {"users": [{"name": "ann", "age": 3}, {"name": "bob"}]}),
    ("filter_unique_reverse_sort", "{{ ['b', 'A', 'a', 'b']|unique|list }} {{ ['b', 'A', 'a']|unique(case_sensitive=true)|list }} {{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ users|sort(attribute='age')|map(attribute='name')|join }}", {"users": [{"name": "x", "age": 3}, {"name": "y", "age": 1}, {"name": "z", "age": 2}]}),
    ("filter_numbers", "{{ -5|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.4|round(method='ceil') }} {{ 2.6|round(0, 'floor') }} {{ 7|round }} {{ 1234.5678|round(-2) }}", {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}] [{{ 'a\\nb'|indent(2, true) }}] [{{ 'a\\n\\nb'|indent(2, first=true, blank=true) }}] [{{ 'x'|indent('> ', true) }}]", {}),
    ("filter_misc", "{{ 'one two  three'|wordcount }} [{{ 'ab'|center(7) }}] [{{ 'abc'|center(8) }}] {{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }} {{ [1, 2, 3]|sum }} {{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ users|sum(attribute='n') }} {{ d|attr('keys') is defined }}", {"users": [{"n": 1}, {"n": 2}], "d": {}}),
    ("filter_chain", "{{ '  Hi There  '|trim|upper|replace('H', 'J')|lower|title }}", {}),
    ("filter_format", "{{ '%s-%s'|format('a', 'b') }} {{ '%d%%'|format(50) }}", {}),
    ("filter_unknown_error", "{{ 'x'|no_such_filter }}", {}),
    # --- statements ---
    ("if_elif_else", "{% for v in [1, 2, 3] %}{% if v == 1 %}one{% elif v == 2 %}two{% else %}other{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }};{% endfor %}", {}),
    ("for_prev_next_cycle", "{% for x in [1, 2, 3] %}[{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }}|{{ loop.previtem is defined }}]{% endfor %}", {}),
    ("for_else_and_filter", "{% for x in [] %}x{% else %}empty{% endfor %} {% for x in [1, 2, 3, 4, 5] if x is odd %}{{ loop.index }}:{{ x }}/{{ loop.length }} {% endfor %}", {}),
    ("for_tuple_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for (a, b) in [['x', 'y']] %}{{ b }}{{ a }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_unpack_error", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_nested_loop_vars", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}/{{ loop.index }}{{ a }} {% endfor %}", {}),
    ("for_over_dict_and_string", "{% for k in d %}{{ k }}{% endfor %} {% for c in 'hé' %}[{{ c }}]{% endfor %} {% for x in undefined_var %}never{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_over_none_error", "{% for x in none %}{% endfor %}", {}),
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i + 5 %}{{ x }} {% endfor %}{{ x }}{% if true %}{% set y = 7 %}{% endif %} {{ y }}", {}),
    ("namespace_pattern", "{% set ns = namespace(count=0, found=false, s='') %}{% for i in [1, 2, 3] %}{% set ns.count = ns.count + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.s }} [{{ ns.missing }}]", {}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("set_block", "{% set x %}Hello {{ name }}!{% endset %}[{{ x }}] {% set y | upper %}shout{% endset %}{{ y }}", {"name": "Bob"}),
    ("set_tuple_unpack", "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set c, d = ['x', 'y'] %}{{ c }}{{ d }}", {}),
    ("set_overrides_context", "{% set messages = messages[1:] %}{{ messages|length }} {% set bos_token = 'B' %}{{ bos_token }}", {"messages": [1, 2, 3], "bos_token": "<s>"}),
    ("macro_defaults", "{% macro greet(name, greeting='Hi', punct='!') %}{{ greeting }} {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Yo') }} {{ greet('Cy', punct='?') }} {{ greet(name='Di', greeting='Hey') }}", {}),
    ("macro_in_expression", "{% macro wrap(x) %}<{{ x }}>{% endmacro %}{{ wrap('a') + wrap('b') }} {{ wrap(1)|length }} {% set w = wrap('c') %}{{ w }}", {}),
    ("macro_varargs_kwargs_scope", "{% set outer = 'O' %}{% macro m(a) %}{{ a }}{{ outer }}{{ varargs|length }}{{ kwargs.z }}{% set outer = 'inner' %}{{ outer }}{% endmacro %}{{ m(1, 2, 3, z=4) }} {{ outer }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_too_many_args_error", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", {}),
    ("call_block", "{% macro box(title) %}[{{ title }}: {{ caller() }}]{% endmacro %}{% call box('T') %}inner {{ 1 + 1 }}{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ name }}{% endfilter %} {% filter replace('a', 'o')|title %}banana split{% endfilter %}", {"name": "ann"}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("print_tuple", "{% set t = (1, 'a') %}{{ t[1] }} {{ t|length }}", {}),
    ("range_global", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {% for i in range(2) %}{{ i }}{% endfor %}", {}),
    ("dict_global", "{% set d = dict(a=1, b='x') %}{{ d.a }}{{ d.b }} {{ d|length }}", {}),
    ("strftime_now_fixed", "{{ strftime_now('%Y-%m-%d') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%B %H:%M:%S %A') }}", {}),
    ("raise_exception_error", "{% if true %}{{ raise_exception('Bad role: ' + 'x') }}{% endif %}", {}),
    ("syntax_error_unclosed", "{% if true %}never closed", {}),
    ("syntax_error_unknown_tag", "line1\n{% frobnicate %}", {}),
    ("syntax_error_bad_expr", "{{ 1 + }}", {}),
    ("syntax_error_unclosed_var", "{{ x ", {}),
    ("syntax_error_break_outside_loop", "{% break %}", {}),
    ("chat_like_context", "{% for m in messages %}{{ m.role|upper }}: {{ m['content'] }}{% if not loop.last %}\n{% endif %}{% endfor %}", {"messages": [{"role": "user", "content": "Hi {{ not a tag }}"}, {"role": "assistant", "content": "Hello\nthere"}]}),
    ("multiline_lstrip_trim", "<s>\n{%- for m in msgs %}\n    {%- if m %}\n        {{- m }}\n    {%- endif %}\n{%- endfor %}\n</s>\n", {"msgs": ["a", "", "b"]}),
    ("indented_blocks_keep_text", "{% for x in xs %}\n  - {{ x }}\n{% endfor %}\ndone", {"xs": [1, 2]}),
    ("whitespace_in_tags", "{%if true%}a{%endif%}{{1}}{%- if  true  -%} b {%- endif -%}", {}),
    ("nested_data_access", "{{ tool.function.parameters.properties.city.type }} {{ tool['function']['name'] }} {{ tool.function.parameters.required[0] }}", {"tool": {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}),
    ("undefined_ops", "[{{ u }}] {{ u|length }} {{ u|list }} {{ u is none }} [{{ u|string }}] {{ u == u }} {{ u|default('d') }} [{{ u|trim }}]", {}),
    ("undefined_add_error", "{{ u + 1 }}", {}),
    ("is_test_precedence", "{{ not x is defined }} {{ x is defined and x }} {{ 1 + 1 is odd }}", {"x": 0}),
    ("filter_on_literal_list_attr", "{{ [{'a': 2}, {'a': 1}]|sort(attribute='a')|map(attribute='a')|join('-') }}", {}),
    ("brace_format_specs", "[{{ '{:>6}|{:<4}|{:^7}|{:*^7}'.format('a', 'b', 'c', 'd') }}] {{ '{:.2f} {:05d} {:+d} {:x}'.format(3.14159, 42, 7, 255) }} {{ '{!r} {!s}'.format('q', 'q') }}", {}),
    ("percent_format_specs", "[{{ '%-5s|%5s|%+d|%x|%X|%o|%c|%e|%g|%.3s' % ('ab', 'cd', 5, 255, 255, 8, 65, 12345.678, 0.0001, 'abcdef') }}]", {}),
    ("int_key_dict", "{% set d = {0: 'zero', 512: 'half', 1024: 'k'} %}{{ d[512] }} {{ d }} {% for k, v in d|dictsort(reverse=true) %}{{ k }}={{ v }} {% endfor %}{{ 512 in d }} {{ d|tojson }} {% for k in d %}{{ k + 1 }},{% endfor %}", {}),
    ("is_filter_and_test", "{{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ 'nope' is test }}", {}),
    ("selectattr_dotted", "{{ tools|selectattr('function.name', 'equalto', 'b')|map(attribute='function.name')|list }} {{ tools|map(attribute='function.params.0', default='-')|list }}", {"tools": [{"function": {"name": "a", "params": ["x"]}}, {"function": {"name": "b"}}]}),
    ("tojson_indent_string_and_nested", "{{ x|tojson(indent='\\t') }}|{{ x|tojson(indent=0) }}|{{ [[], {}, [[]]]|tojson }}", {"x": {"a": [1, {"b": None}]}}),
    ("namespace_empty_then_set", "{% set ns = namespace() %}{% set ns.items = [1, 2] %}{% set ns.count = ns.items|length %}{{ ns.count }} {{ ns.items }}", {}),
    ("first_last_edge", "[{{ {}|first }}] [{{ []|last }}] {{ 'abc'|last }} {{ 'abc'|first }} {{ [1, 2, 3][1:][0] }} {{ {'x': 1}|first }}", {}),
    ("compare_type_error", "{{ 'a' < 1 }}", {}),
    ("in_none_error", "{{ 'a' in none }}", {}),
    ("not_in_dict", "{{ 'a' not in {'a': 1} }} {{ 'b' not in {'a': 1} }} {{ none in [none] }} {{ 1.0 in [1] }}", {}),
    ("dict_get_chain", "{{ d.get('a', {}).get('b', 'dflt') }} {{ d.get('c', {}).get('b', 'dflt') }} {{ d.a.b }}", {"d": {"a": {"b": "B"}}}),
    ("loop_filtered_else", "{% for a in [1, 2, 3] if a > 5 %}{{ a }}{% else %}none{% endfor %} {% for a in [3, 1, 2] if a != 1 %}{{ loop.revindex }}{{ loop.last }}{% endfor %}", {}),
    ("generation_in_loop", "{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}[{{ m.content }}]{% endif %}{% endfor %}", {"msgs": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}),
    ("unicode_case_ops", "{{ 'straße'|upper }} {{ 'ÉCOLE'|lower }} {{ 'ǆemal'|capitalize }} {{ 'élan vital'|title }} {{ 'ﬁsh'.upper() }}", {}),
    ("string_filter_nested_repr", "{{ [['a', \"b'c\"], {'k': 'é\\n'}]|string }} {{ [none, true]|string }}", {}),
    ("replace_non_string_args", "{{ 'a1b1'|replace(1, 2) }} {{ 'v'|replace('v', none) }}", {}),
    ("range_map_join", "{{ range(4)|map('string')|join(',') }} {{ range(3)|sum }} {{ range(0)|list }} {{ range(10, 0, -3)|list }}", {}),
    ("whitespace_control_mix", "a\n  {{- 'b' }}\n  {%- if true %}\n    c\n  {%- endif %}\n{{ 'd' -}}\n  e\n{#- comment #}\nf", {}),
    ("raw_with_lstrip_trim", "x\n  {% raw %}\n  {{ y }}\n  {% endraw %}\nz", {}),
    ("string_escape_octal_and_continuation", "{{ '\\101\\x42' }} {{ 'a\\\nb' }} {{ \"tab:\\t;\" }}", {}),
    ("invalid_escape_error", "{{ '\\x4' }}", {}),
    ("macro_caller_missing", "{% macro m() %}[{{ caller is defined }}]{% endmacro %}{{ m() }}", {}),
    ("nested_ternary_filters", "{{ (x|default([]))|length if x is defined else 'none' }} {{ y|default('a' if true else 'b')|upper }}", {"x": [1, 2]}),
    ("concat_with_safe_and_escape", "{{ ('<b>'|safe) ~ '<i>' }} {{ '<a>'|e ~ '<c>' }}", {}),
    ("tilde_and_plus_precedence", "{{ 1 + 2 ~ 3 + 4 }} {{ 'a' ~ 2 * 3 }}", {}),
    ("deep_attr_on_list_items", "{% for m in msgs %}{{ m.tool_calls[0].function.arguments.city if m.tool_calls else '-' }};{% endfor %}", {"msgs": [{"tool_calls": [{"function": {"arguments": {"city": "Oslo"}}}]}, {"tool_calls": None}, {}]}),
    ("string_compare_and_sort_unicode", "{{ ['é', 'z', 'a', 'Z']|sort(case_sensitive=true) }} {{ 'é' > 'z' }}", {}),
]


def render_unit(case):
    name, template, context = case[:3]
    options = case[3] if len(case) > 3 else None
    env = make_env(**options) if options else HF_ENV
    entry = {"name": name, "template": template, "context": context}
    if options:
        entry["options"] = options
    try:
        entry["expected"] = env.from_string(template).render(**context)
    except Exception as e:  # noqa: BLE001 - every failure becomes an error fixture
        entry["error"] = True
        entry["error_message"] = "%s: %s" % (type(e).__name__, e)
    return entry


# ---------------------------------------------------------------------------
# Chat conversations

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a timezone — returns ISO-8601.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}

SYS = {"role": "system", "content": "You are a concise assistant."}
U1 = {"role": "user", "content": "Hello! What can you do?"}
A1 = {"role": "assistant", "content": "I can answer questions and help with tasks."}
U2 = {"role": "user", "content": "Write a haiku about the sea."}
UNICODE_USER = {"role": "user", "content": "Ünïcödé ✓ — 你好，世界 🌍 «quotes» \"double\" 'single'"}
TRICKY_USER = {"role": "user", "content": "Line one\nLine two\n\n  indented {{ not_a_var }} {% if x %} {# c #}\\n literal\t tab  "}
TRICKY_ASSISTANT = {"role": "assistant", "content": "  Sure:\n```\n{{ x }}\n```\n"}
THINK_ASSISTANT = {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\nThe answer is 4."}
Q_WEATHER = {"role": "user", "content": "What's the weather in Paris?"}
CALL_ID = "call12345"
TOOL_CALL_DICT = {"role": "assistant", "content": None, "tool_calls": [
    {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}
TOOL_CALL_STR = {"role": "assistant", "content": "", "tool_calls": [
    {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
TOOL_RESULT = {"role": "tool", "tool_call_id": CALL_ID, "name": "get_weather", "content": "{\"temperature\": 18, \"condition\": \"sunny\"}"}
FINAL = {"role": "assistant", "content": "It is 18 °C and sunny in Paris."}
TWO_CALLS = {"role": "assistant", "content": "Checking both.", "tool_calls": [
    {"id": "callAAAAA", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
    {"id": "callBBBBB", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "Europe/Oslo"}}}]}
TWO_RESULTS = [
    {"role": "tool", "tool_call_id": "callAAAAA", "content": "rainy"},
    {"role": "tool", "tool_call_id": "callBBBBB", "content": "2025-01-15T12:30:45+01:00"},
]

CONVERSATIONS = [
    ("single_user", [U1], None),
    ("system_user", [SYS, U1], None),
    ("multi_turn", [U1, A1, U2], None),
    ("system_multi_turn", [SYS, U1, A1, U2], None),
    ("multi_turn_ends_assistant", [SYS, U1, A1], None),
    ("unicode", [UNICODE_USER], None),
    ("tricky_content", [SYS, TRICKY_USER, TRICKY_ASSISTANT, U2], None),
    ("thinking_history", [U1, THINK_ASSISTANT, U2], None),
    ("tools_defined", [Q_WEATHER], [WEATHER_TOOL, TIME_TOOL]),
    ("tools_with_system", [SYS, Q_WEATHER], [WEATHER_TOOL]),
    ("tool_call_roundtrip", [Q_WEATHER, TOOL_CALL_DICT, TOOL_RESULT, FINAL], [WEATHER_TOOL]),
    ("tool_call_string_args", [SYS, Q_WEATHER, TOOL_CALL_STR, TOOL_RESULT], [WEATHER_TOOL]),
    ("tool_call_no_tools_param", [Q_WEATHER, TOOL_CALL_DICT, TOOL_RESULT], None),
    ("parallel_tool_calls", [Q_WEATHER, TWO_CALLS] + TWO_RESULTS, [WEATHER_TOOL, TIME_TOOL]),
    ("empty_messages", [], None),
]

# template file -> (bos_token, eos_token)
CHAT_TEMPLATES = {
    "HuggingFaceTB-SmolLM2-ChatML.jinja": (None, "<|im_end|>"),
    "Qwen-Qwen2.5-7B-Instruct.jinja": (None, "<|im_end|>"),
    "deepseek-ai-DeepSeek-V3.1.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "meta-llama-Llama-3.1-8B-Instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "HuggingFaceTB-SmolLM3-3B.jinja": (None, "<|im_end|>"),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": ("<s>", "</s>"),
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": ("<s>", "</s>"),
    "mistralai-Ministral-3-14B-Reasoning-2512.jinja": ("<s>", "</s>"),
    "Qwen-Qwen3-0.6B.jinja": (None, "<|im_end|>"),
    "Qwen-QwQ-32B.jinja": (None, "<|im_end|>"),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama-Llama-3.3-70B-Instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
}

# Templates that read `enable_thinking`: also rendered with it false (and, for Qwen3, true).
THINKING_VARIANTS = {
    "HuggingFaceTB-SmolLM3-3B.jinja": [None, {"enable_thinking": False}],
    "deepseek-ai-DeepSeek-V3.1.jinja": [None, {"enable_thinking": False}],
    "Qwen-Qwen3-0.6B.jinja": [None, {"enable_thinking": False}, {"enable_thinking": True}],
}


# Every other template in templates/ gets a smaller set of conversations (breadth check).
BREADTH_CONVERSATIONS = [
    ("system_multi_turn", True), ("tool_call_roundtrip", True), ("tools_with_system", False),
    ("tricky_content", True), ("thinking_history", False),
]

# Templates where the Swift engine knowingly differs from jinja2 (see the fixtures README).
KNOWN_DEVIATIONS = {
    "meetkai-functionary-medium-v3.1.jinja": "uses `'...'|safe + str`: jinja2's Markup HTML-escapes the str; Markup is not modelled",
    "llama-cpp-deepseek-r1.jinja": "`tools|map(...)|tojson`: jinja2's map returns a generator that json.dumps rejects; ours returns a list",
}


def hf_render(template, messages, tools, add_generation_prompt, bos, eos, extra=None):
    """Mirror apply_chat_template: tools/documents are always passed (None when absent)."""
    kwargs = {}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    kwargs.update(extra or {})
    return template.render(messages=messages, tools=tools, documents=None,
                           add_generation_prompt=add_generation_prompt, **kwargs)


def chat_cases():
    cases = []
    for file_name, (bos, eos) in CHAT_TEMPLATES.items():
        with open(os.path.join(TEMPLATES, file_name), encoding="utf-8", newline="") as f:
            template = HF_ENV.from_string(f.read())
        for conv_name, messages, tools in CONVERSATIONS:
            for agp in (True, False):
                for extra in THINKING_VARIANTS.get(file_name, [None]):
                    suffix = "" if not extra else ("/no_think" if not extra["enable_thinking"] else "/think")
                    entry = {"name": "%s/%s/agp=%s%s" % (file_name, conv_name, agp, suffix),
                             "template_file": file_name, "messages": messages}
                    if tools is not None:
                        entry["tools"] = tools
                    entry.update({"add_generation_prompt": agp, "bos_token": bos, "eos_token": eos})
                    if extra:
                        entry["extra"] = extra
                    try:
                        entry["expected"] = hf_render(template, messages, tools, agp, bos, eos, extra)
                    except Exception as e:  # noqa: BLE001
                        entry["error"] = True
                        entry["error_message"] = "%s: %s" % (type(e).__name__, e)
                    cases.append(entry)
    return cases


def breadth_cases():
    conversations = {name: (messages, tools) for name, messages, tools in CONVERSATIONS}
    cases = []
    for file_name in sorted(os.listdir(TEMPLATES)):
        if not file_name.endswith(".jinja") or file_name in CHAT_TEMPLATES:
            continue
        with open(os.path.join(TEMPLATES, file_name), encoding="utf-8", newline="") as f:
            template = HF_ENV.from_string(f.read())
        for conv_name, agp in BREADTH_CONVERSATIONS:
            messages, tools = conversations[conv_name]
            entry = {"name": "%s/%s/agp=%s" % (file_name, conv_name, agp), "template_file": file_name,
                     "messages": messages}
            if tools is not None:
                entry["tools"] = tools
            entry.update({"add_generation_prompt": agp, "bos_token": "<s>", "eos_token": "</s>"})
            try:
                entry["expected"] = hf_render(template, messages, tools, agp, "<s>", "</s>")
            except Exception as e:  # noqa: BLE001
                entry["error"] = True
                entry["error_message"] = "%s: %s" % (type(e).__name__, e)
            if file_name in KNOWN_DEVIATIONS:
                entry["known_deviation"] = KNOWN_DEVIATIONS[file_name]
            cases.append(entry)
    return cases


def write_json(name, value):
    with open(os.path.join(FIXTURES, name), "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    unit = [render_unit(c) for c in UNIT]
    names = [c["name"] for c in unit]
    assert len(names) == len(set(names)), "duplicate unit case names"
    chats = chat_cases()
    breadth = breadth_cases()
    write_json("unit_cases.json", unit)
    write_json("chat_cases.json", chats)
    write_json("chat_breadth_cases.json", breadth)
    errors = sum(1 for c in unit if c.get("error"))
    print("unit cases: %d (%d expect errors)" % (len(unit), errors))
    per = {}
    for c in chats:
        ok, err = per.get(c["template_file"], (0, 0))
        per[c["template_file"]] = (ok + (0 if c.get("error") else 1), err + (1 if c.get("error") else 0))
    for name, (ok, err) in per.items():
        print("  %-50s %3d rendered, %2d errors" % (name, ok, err))
    print("breadth cases: %d over %d templates (%d expect errors)" % (
        len(breadth), len({c["template_file"] for c in breadth}), sum(1 for c in breadth if c.get("error"))))


if __name__ == "__main__":
    main()
