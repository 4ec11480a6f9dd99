/*
 * vocabulary.h - the words of the table-mapping form that several parts must agree on, written once:
 * the filter operators, how a filter's rules combine, and the conversion types. The configuration schema checks them
 * (core/config/config.c), the built-in stages implement them (plugins/stages/filter.c, convert.c), and
 * the admin API serves them with their labels to the Workflows page (GET /api/v1/vocabulary).
 *
 * Each list is an X-macro: X(ID, "name", "label"); a user defines X to take what it needs.
 */
#ifndef CS_MAPPING_VOCABULARY_H
#define CS_MAPPING_VOCABULARY_H

/* The operators of a filter rule {field, op, value}. */
#define CS_FILTER_OPERATORS(X)                                                                                         \
    X(EQ, "eq", "equals")                                                                                              \
    X(NE, "ne", "does not equal")                                                                                      \
    X(GT, "gt", "greater than")                                                                                        \
    X(GE, "ge", "greater than or equal to")                                                                            \
    X(LT, "lt", "less than")                                                                                           \
    X(LE, "le", "less than or equal to")                                                                               \
    X(CONTAINS, "contains", "contains")                                                                                \
    X(STARTSWITH, "startswith", "starts with")                                                                         \
    X(ENDSWITH, "endswith", "ends with")                                                                               \
    X(IN, "in", "is one of (comma-separated)")                                                                         \
    X(NULL, "null", "is empty")                                                                                        \
    X(NOTNULL, "notnull", "is not empty")

/* How the rules of a filter combine (its `match`). */
#define CS_FILTER_MATCHES(X)                                                                                           \
    X(ALL, "all", "And (all must be true)")                                                                            \
    X(ANY, "any", "Or (any is true)")

/* The types a field can be converted to: {field: type}. */
#define CS_CONVERT_TYPES(X)                                                                                            \
    X(INTEGER, "integer", "whole number")                                                                              \
    X(FLOAT, "float", "number (single precision)")                                                                     \
    X(DOUBLE, "double", "number")                                                                                      \
    X(BOOLEAN, "boolean", "true or false")                                                                             \
    X(STRING, "string", "text")                                                                                        \
    X(DATE, "date", "date (YYYY-MM-DD)")                                                                               \
    X(DATETIME, "datetime", "date and time (ISO 8601)")

/* Ready-made X for the common uses: the names as array members, and the names as one string literal
 * " a b c" for help texts. */
#define CS_VOCABULARY_NAME(id, name, label) name,
#define CS_VOCABULARY_WORD(id, name, label) " " name

#endif
