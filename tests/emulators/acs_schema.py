# acs_schema: the Campaign Standard resources the emulator serves: the profile (nms:recipient,
# reference B5.2/B6) with its deny-list fields, the profileAndServicesExt custom fields (cus*),
# the default custom resources (linked to the profile or to each other, with identification keys
# and their filters: memberships and their cards; vehicles linked to the profile and their services,
# the custom entities of Adobe's worked example), the built-in and custom profile filters, and the
# organizational units (orgUnitBase), the services and their subscriptions. Plain JSON, replaceable via
# config.

DENY_LIST_FIELDS = ["blackList", "blackListEmail", "blackListFax", "blackListMobile", "blackListPhone",
                    "blackListPostalMail", "blackListPushnotification", "ccpaOptOut"]

LOCATION_FIELDS = ["address1", "address2", "address3", "address4", "city", "countryCode", "stateCode", "zipCode"]


def _s(length, label, **kw):
    d = {"type": "string", "length": length, "label": label}
    d.update(kw)
    return d


PROFILE_FIELDS = {
    "PKey": {"type": "string", "readOnly": True, "label": "Primary key"},
    "age": {"type": "long", "readOnly": True, "label": "Age"},
    "birthDate": {"type": "date", "label": "Birth date", "sortable": True},
    "created": {"type": "datetime", "readOnly": True, "label": "Created", "sortable": True},
    "cryptedId": {"type": "string", "readOnly": True, "label": "Encrypted identifier"},
    "domain": {"type": "string", "readOnly": True, "label": "Email domain", "length": 255},
    "email": _s(128, "Email", dataPolicy="email", sortable=True),
    "emailFormat": {"type": "enumeration", "values": ["unknown", "text", "html"], "label": "Email format"},
    "externalId": _s(100, "External Resource ID", sortable=True),
    "fax": _s(32, "Fax"),
    "firstName": _s(30, "First name", sortable=True),
    "gender": {"type": "enumeration", "values": ["unknown", "male", "female"], "label": "Gender"},
    "isExternal": {"type": "boolean", "label": "External profile"},
    "lastModified": {"type": "datetime", "readOnly": True, "label": "Last modified", "sortable": True},
    "lastName": _s(50, "Last name", sortable=True),
    "location": {"type": "object", "fields": LOCATION_FIELDS, "label": "Location"},
    "middleName": _s(30, "Middle name"),
    "mobilePhone": _s(32, "Mobile"),
    "phone": _s(32, "Phone"),
    "postalAddress": {"type": "object", "readOnly": True, "label": "Postal address"},
    "preferredLanguage": _s(16, "Preferred language"),
    "salutation": _s(16, "Salutation"),
    "thumbnail": {"type": "string", "readOnly": True, "label": "Thumbnail"},
    "timeZone": _s(32, "Time zone"),
    "title": {"type": "string", "readOnly": True, "label": "Title"},
    "subscriptions": {"type": "collection", "readOnly": True, "label": "Subscriptions"},
}
for _f in DENY_LIST_FIELDS:
    PROFILE_FIELDS[_f] = {"type": "boolean", "label": _f, "denyList": True}

DEFAULT_EXT_FIELDS = {
    "cusCrmid": _s(64, "CRM id", sortable=True),
    "cusLoyaltyTier": _s(30, "Loyalty tier"),
    "cusScore": {"type": "long", "label": "Score"},
}

DEFAULT_PROFILE_FILTERS = {
    # custom filters (defined in the Campaign UI on the extension; reference B5.1)
    "byExternalId": {"field": "externalId", "param": "externalId_parameter", "op": "eq"},
    "byLastModified": {"field": "lastModified", "param": "since", "op": "ge"},
}

DEFAULT_CUSTOM_RESOURCES = {
    "cusMembership": {
        "label": "Membership",
        "fields": {
            "membershipNumber": _s(20, "Membership number", sortable=True),
            "name": _s(100, "Name", sortable=True),
            "tier": {"type": "enumeration", "values": ["bronze", "silver", "gold"], "label": "Tier"},
            "points": {"type": "long", "label": "Points"},
            "startDate": {"type": "date", "label": "Start date"},
            "externalId": _s(100, "External id", sortable=True),
        },
        "links": {"profile": "profile", "orgUnit": "orgUnitBase"},
        "key": "membershipNumber",
        "filters": {"byMembershipNumber": {"field": "membershipNumber", "param": "membershipNumber_parameter", "op": "eq"},
                    "byExternalId": {"field": "externalId", "param": "externalId_parameter", "op": "eq"}},
    },
    "cusMembershipCard": {
        "label": "Membership card",
        "fields": {
            "cardNumber": _s(30, "Card number", sortable=True),
            "expiresOn": {"type": "date", "label": "Expires on"},
            "externalId": _s(100, "External id", sortable=True),
        },
        "links": {"membership": "cusMembership", "orgUnit": "orgUnitBase"},
        "key": "cardNumber",
        "filters": {"byCardNumber": {"field": "cardNumber", "param": "cardNumber_parameter", "op": "eq"},
                    "byExternalId": {"field": "externalId", "param": "externalId_parameter", "op": "eq"}},
    },
    "cusVehicle": {
        "label": "Vehicle",
        "fields": {
            "externalId": _s(100, "External id", sortable=True),
            "name": _s(100, "Name", sortable=True),
            "vin": _s(17, "VIN", sortable=True),
            "model": _s(100, "Model"),
            "year": {"type": "long", "label": "Year"},
            "purchaseDate": {"type": "date", "label": "Purchase date"},
        },
        "links": {"profile": "profile", "orgUnit": "orgUnitBase"},
        "key": "externalId",
        "filters": {"byExternalId": {"field": "externalId", "param": "externalId_parameter", "op": "eq"},
                    "byVin": {"field": "vin", "param": "vin_parameter", "op": "eq"}},
    },
    "cusService": {
        "label": "Vehicle service",
        "fields": {
            "externalId": _s(100, "External id", sortable=True),
            "name": _s(100, "Name", sortable=True),
            "serviceDate": {"type": "date", "label": "Service date"},
            "mileage": {"type": "long", "label": "Mileage"},
            "notes": _s(2000, "Notes"),
        },
        "links": {"vehicle": "cusVehicle", "orgUnit": "orgUnitBase"},
        "key": "externalId",
        "filters": {"byExternalId": {"field": "externalId", "param": "externalId_parameter", "op": "eq"}},
    },
}

# the built-in filters of each resource (Filtering page: byEmail and byText on profiles, byText on
# services) and the fields byText searches ([I] for services: label and name)
BUILTIN_FILTERS = {"profile": ["byEmail", "byText"], "service": ["byText"]}
TEXT_FIELDS = {"profile": ("firstName", "lastName", "email"), "service": ("label", "name")}

# Services and subscriptions (Adobe's Managing services and subscriptions page; fields of its samples)
SERVICE_FIELDS = {
    "PKey": {"type": "string", "readOnly": True, "label": "Primary key"},
    "label": _s(128, "Label", sortable=True),
    "name": _s(64, "Name", sortable=True),
    "messageType": {"type": "enumeration", "values": ["email", "sms", "push"], "label": "Channel"},
    "mode": {"type": "enumeration", "values": ["newsletter", "subscription"], "label": "Mode"},  # [I] values
    "start": {"type": "date", "label": "Start"},
    "end": {"type": "date", "label": "End"},
    "limitedDuration": {"type": "boolean", "label": "Limited duration"},
    "builtIn": {"type": "boolean", "readOnly": True, "label": "Built-in"},
    "targetResource": {"type": "string", "readOnly": True, "label": "Target resource"},
    "subScenarioEventType": {"type": "string", "readOnly": True, "label": "Subscription scenario event"},
    "created": {"type": "datetime", "readOnly": True, "label": "Created", "sortable": True},
    "lastModified": {"type": "datetime", "readOnly": True, "label": "Last modified", "sortable": True},
    "subscriptions": {"type": "collection", "readOnly": True, "label": "Subscriptions"},
}
SERVICE_FILTERS = {"byChannel": {"field": "messageType", "param": "channel", "op": "eq", "label": "By channel"}}
SUBSCRIPTION_FIELDS = {
    "PKey": {"type": "string", "readOnly": True, "label": "Primary key"},
    "expirationDate": {"type": "date", "label": "Expiration date"},
    "created": {"type": "datetime", "readOnly": True, "label": "Created"},
    "email": {"type": "string", "readOnly": True, "label": "Email"},
    "serviceName": {"type": "string", "readOnly": True, "label": "Service name"},
}
DEFAULT_SERVICES = [{"name": "SVC1", "label": "Sport Newsletter", "messageType": "email", "mode": "newsletter"},
                    {"name": "SVC2", "label": "Marketing Newsletter", "messageType": "email", "mode": "newsletter"},
                    {"name": "SVC6", "label": "SMS alerts", "messageType": "sms", "mode": "newsletter"}]

# Organizational units (Adobe's Organizational units pages: orgUnitBase under profileAndServicesExt; the
# profile's extension adds the link orgUnit to them, and the custom resources above carry one too)
ORG_UNIT_FIELDS = {
    "name": _s(64, "Name", sortable=True),
    "label": _s(128, "Label", sortable=True),
    "desc": _s(2000, "Description"),
    "created": {"type": "datetime", "readOnly": True, "label": "Created"},
    "lastModified": {"type": "datetime", "readOnly": True, "label": "Last modified", "sortable": True},
    "title": {"type": "string", "readOnly": True, "label": "Title"},
    "parentTitle": {"type": "string", "readOnly": True, "label": "Parent"},
}

DEFAULT_ORG_UNITS = [{"name": "all", "label": "All"}, {"name": "brand1", "label": "Brand 1"},
                     {"name": "brand4", "label": "Brand 4"}]
