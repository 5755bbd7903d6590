# Ratios from a benchmark table whose rows are "| key | server | count | value | ... |", one
# row per server per key per round, in the order they ran: for each key (a case or a rate),
# each ratio per round and its median. Usage:
#   awk -f ratios.awk -v mode=base -v base=eddy TABLE      base ÷ every other server
#   awk -f ratios.awk -v mode=loops TABLE                  X-2 ÷ X-1 for each X, and
#                                                          eddy-N ÷ Y-N for every other Y
# A row whose value is not a number (a failed run) gives no ratio for its round; a row marked
# "behind" (loops-at-rate.sh: not at the offered load) gives one marked with "*", and the
# median leaves it out. Written for POSIX awk (Debian's default is mawk: no asort).

function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }

function median(list,    n, v, i, j, t) {
    n = split(list, v, " ")
    if (n == 0) return "-"
    for (i = 2; i <= n; i++) {
        t = v[i] + 0
        for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]
        v[j + 1] = t
    }
    if (n % 2) return sprintf("%.2f", v[(n + 1) / 2])
    return sprintf("%.2f", (v[n / 2] + v[n / 2 + 1]) / 2)
}

# ratio KEY TOP BOTTOM LABEL: appends the per-round ratios of TOP's values to BOTTOM's
function ratio(key, top, bottom, label,    r, a, b, shown, kept, x) {
    shown = ""; kept = ""
    for (r = 1; r <= rounds[key, top] && r <= rounds[key, bottom]; r++) {
        a = value[key, top, r]; b = value[key, bottom, r]
        if (a == "" || b == "" || b + 0 == 0) continue
        x = sprintf("%.2f", a / b)
        if (behind[key, top, r] || behind[key, bottom, r]) { shown = shown (shown == "" ? "" : ", ") x "*"; continue }
        shown = shown (shown == "" ? "" : ", ") x
        kept = kept " " x
    }
    if (shown == "") return
    printf "| %s | %s | %s | %s |\n", key, label, shown, median(kept)
    found = 1
}

BEGIN { FS = "|" }

NF >= 6 {
    key = trim($2); name = trim($3); v = trim($5)
    if (key == "" || name == "" || key ~ /^-+:?$/ || key == "case" || key == "rate/s") next
    if (!((key, name) in rounds)) { rounds[key, name] = 0 }
    r = ++rounds[key, name]
    if (!(key in seenKey)) { seenKey[key] = 1; keys[++keyCount] = key }
    if (!(name in seenName)) { seenName[name] = 1; names[++nameCount] = name }
    value[key, name, r] = (v ~ /^[0-9.]+$/) ? v : ""
    behind[key, name, r] = ($0 ~ /behind/)
}

END {
    found = 0
    if (mode == "base") {
        print "| case | ratio | per round | median |"
        print "|---|---|---|---:|"
        for (k = 1; k <= keyCount; k++)
            for (n = 1; n <= nameCount; n++)
                if (names[n] != base && (keys[k], base) in rounds && (keys[k], names[n]) in rounds)
                    ratio(keys[k], base, names[n], base " ÷ " names[n])
    } else {
        print "| rate/s | ratio | per round | median |"
        print "|---|---|---|---:|"
        for (k = 1; k <= keyCount; k++) {
            for (n = 1; n <= nameCount; n++) {
                name = names[n]
                if (name !~ /-2$/) continue
                one = substr(name, 1, length(name) - 2) "-1"
                if ((keys[k], one) in rounds && (keys[k], name) in rounds) ratio(keys[k], name, one, name " ÷ " one)
            }
            for (n = 1; n <= nameCount; n++) {
                name = names[n]
                if (name ~ /^eddy-/ || name !~ /-[0-9]+$/) continue
                mine = "eddy-" substr(name, match(name, /-[0-9]+$/) + 1)
                if ((keys[k], mine) in rounds && (keys[k], name) in rounds) ratio(keys[k], mine, name, mine " ÷ " name)
            }
        }
    }
    if (!found) print "| - | no pair of servers ran in the same rounds | | |"
}
