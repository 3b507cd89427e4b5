/* Form POST preservation: parse and re-render. The re-post goes through the
 * browser's own form submission, so the application gets an ordinary POST
 * from its own origin with the user's new session cookie. */
#include <string.h>

#include <apr_strings.h>

#include "formpost.h"
#include "url.h"

int jp_form_content_type_ok(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    size_t n = sizeof(want) - 1;
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, n))
        return 0;
    /* Only parameters may follow the media type (RFC 9110 8.3.1). */
    for (ct += n; *ct == ' ' || *ct == '\t'; ct++)
        ;
    return *ct == '\0' || *ct == ';';
}

json_t *jp_form_parse(apr_pool_t *p, const char *body, size_t len)
{
    json_t *pairs = json_array();
    const char *seg = body, *end = body + len;
    int n = 0;
    if (!pairs || (!body && len) || (len && memchr(body, '\0', len)))
        goto bad;
    while (seg < end) {
        const char *amp = memchr(seg, '&', (size_t)(end - seg)), *eq;
        char *name, *value;
        json_t *jn, *jv, *pair;
        if (!amp)
            amp = end;
        if (amp == seg) {
            seg = amp + 1;
            continue;
        }
        if (++n > JP_FORM_MAX_FIELDS)
            goto bad;
        eq = memchr(seg, '=', (size_t)(amp - seg));
        name = jp_url_decode(p, apr_pstrmemdup(p, seg, (apr_size_t)((eq ? eq : amp) - seg)));
        value = eq ? jp_url_decode(p, apr_pstrmemdup(p, eq + 1, (apr_size_t)(amp - eq - 1)))
                   : apr_pstrdup(p, "");
        if (!name || !value)
            goto bad;
        /* json_string refuses what is not UTF-8: the page is UTF-8 and the
         * browser would re-encode other bytes differently. */
        jn = json_string(name);
        jv = json_string(value);
        pair = json_array();
        if (!jn || !jv || !pair || json_array_append_new(pair, jn) != 0) {
            json_decref(jn);
            json_decref(jv);
            json_decref(pair);
            goto bad;
        }
        if (json_array_append_new(pair, jv) != 0 || json_array_append_new(pairs, pair) != 0)
            goto bad;
        seg = amp + 1;
    }
    return pairs;
bad:
    json_decref(pairs);
    return NULL;
}

char *jp_html_escape(apr_pool_t *p, const char *s)
{
    size_t n = 0;
    const unsigned char *q;
    char *out, *o;
    for (q = (const unsigned char *)s; *q; q++)
        n += (*q == '&' || *q == '<' || *q == '>' || *q == '"' || *q == '\'' || *q < 0x20 ||
              *q == 0x7f)
                 ? 6
                 : 1;
    out = o = apr_palloc(p, n + 1);
    for (q = (const unsigned char *)s; *q; q++) {
        if (*q == '&' || *q == '<' || *q == '>' || *q == '"' || *q == '\'' || *q < 0x20 ||
            *q == 0x7f)
            o += sprintf(o, "&#%u;", (unsigned)*q);
        else
            *o++ = (char)*q;
    }
    *o = '\0';
    return out;
}

char *jp_form_page(apr_pool_t *p, const char *action, json_t *pairs, const char *nonce)
{
    size_t i;
    json_t *pair;
    char *inputs = "";
    if (!json_is_array(pairs) || !action || !nonce)
        return NULL;
    json_array_foreach(pairs, i, pair)
    {
        json_t *n = json_array_get(pair, 0), *v = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(n) ||
            !json_is_string(v))
            return NULL;
        inputs = apr_pstrcat(p, inputs, "<input type=\"hidden\" name=\"",
                             jp_html_escape(p, json_string_value(n)), "\" value=\"",
                             jp_html_escape(p, json_string_value(v)), "\">\n", NULL);
    }
    /* HTMLFormElement.prototype.submit: a field named "submit" would shadow
     * form.submit. */
    return apr_pstrcat(
        p,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"referrer\" content=\"no-referrer\"><title>Resuming</title></head>\n"
        "<body>\n<form id=\"jitprov-repost\" method=\"post\" action=\"",
        jp_html_escape(p, action), "\" enctype=\"application/x-www-form-urlencoded\">\n", inputs,
        "<noscript><p>You are logged in. Send the form you submitted before:</p>"
        "<button type=\"submit\">Continue</button></noscript>\n</form>\n<script nonce=\"",
        jp_html_escape(p, nonce),
        "\">HTMLFormElement.prototype.submit.call(document.getElementById('jitprov-repost'));"
        "</script>\n</body></html>\n",
        NULL);
}
