/*
 * test_acs_filters.c - a Campaign filter listing read in each form (plugins/campaign/acs_filters.c):
 * keyed by filter name as Adobe's Filtering page shows it (data templates relative or absolute, several
 * parameters, members that are not filters left out), a list of named filters under "content" or bare,
 * the parameters from "parameters" or the "metadata" node when there is no data template; and what the
 * message says when a listing holds no filter it reads.
 */
#include <string.h>

#include "../../plugins/campaign/campaign.h"
#include "check.h"

/* "name(param1,param2) ..." of a listing, for comparisons. */
static const char *names(const char *text)
{
    static char out[512];
    json_t *doc = json_loads(text, 0, NULL), *list = acs_filters_list(doc), *e, *p;
    size_t i, k, used = 0;
    out[0] = 0;
    json_array_foreach (list, i, e) {
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%s(", i ? " " : "",
                                 json_string_value(json_object_get(e, "name")));
        json_array_foreach (json_object_get(e, "params"), k, p)
            used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", k ? "," : "", json_string_value(p));
        used += (size_t)snprintf(out + used, sizeof out - used, ")");
    }
    json_decref(list);
    json_decref(doc);
    return out;
}

static const char *found(const char *text)
{
    static char out[600];
    json_t *doc = json_loads(text, 0, NULL), *list = acs_filters_list(doc);
    acs_filters_found(doc, list, out, sizeof out);
    json_decref(list);
    json_decref(doc);
    return out;
}

int main(void)
{
    /* keyed by name (Filtering page): a relative template, an absolute one with several parameters */
    const char *keyed =
        "{\"birthday\": {\"PKey\": \"@b\", \"category\": \"0150_profile\", \"condition\": {}, \"data\": "
        "\"https://mc.adobe.io/t/campaign/profileAndServices/profile/birthday?type=$value&day=$value\", "
        "\"formType\": \"webPage\", \"fragmentName\": \"\", \"label\": \"Birthday\"},"
        " \"byText\": {\"PKey\": \"@t\", \"data\": \"/profileAndServices/profile/byText?text=$value\"},"
        " \"byExternalId\": {\"data\": \"/profileAndServicesExt/profile/byExternalId?externalId_parameter=$value\"},"
        " \"href\": \"https://mc.adobe.io/t/campaign/x\", \"next\": {\"href\": \"https://mc.adobe.io/t/next\"}}";
    CHECK_STR(names(keyed), "birthday(type,day) byText(text) byExternalId(externalId_parameter)");
    /* a list of named filters, under content or bare; parameters from "parameters" */
    CHECK_STR(names("{\"content\": [{\"name\": \"byEmail\", \"data\": \"/p/profile/byEmail?email=$value\"},"
                    " {\"name\": \"byVin\", \"parameters\": [\"vin_parameter\"]}]}"),
              "byEmail(email) byVin(vin_parameter)");
    CHECK_STR(names("[{\"name\": \"byEmail\", \"parameters\": [{\"name\": \"email\"}]}, {\"label\": \"no name\"}]"),
              "byEmail(email)");
    /* keyed under content; a filter without a data template described by its metadata node */
    CHECK_STR(names("{\"content\": {\"byCode\": {\"label\": \"By code\", \"metadata\": {\"code_parameter\": {}}}}}"),
              "byCode(code_parameter)");
    /* a data template whose query holds fixed values besides the parameter */
    CHECK_STR(names("{\"byX\": {\"data\": \"/p/r/byX?x_parameter=$value&_lineCount=10\"}}"), "byX(x_parameter)");

    CHECK_STR(found(keyed), "its filters: birthday(type), byText(text), byExternalId(externalId_parameter)");
    CHECK_CONTAINS(found("{\"content\": [{\"data\": \"/p/r/byX?x=$value\"}]}"), "a list without names");
    CHECK_CONTAINS(found("{\"href\": \"h\", \"count\": 3}"), "an object with members: href count");
    CHECK_CONTAINS(found("{\"href\": \"h\"}"), "no filter in a form crmsync reads");
    return check_exit();
}
