# `make help`: each target of the Makefile with the first line of the comment block above it.
/^#/ { if (!in_comment) first = substr($0, 3); in_comment = 1; next }
# A target-specific variable (`target: VAR := value`) is no target of its own.
/^[a-z][a-zA-Z0-9_-]*: *(override +|export +)?[A-Za-z_]+ *[:?+]?=/ { next }
/^[a-z][a-zA-Z0-9_-]*:([^=]|$)/ {
    split($0, parts, ":")
    printf "  %-20s %s\n", parts[1], in_comment ? first : ""
}
{ in_comment = 0; first = "" }
