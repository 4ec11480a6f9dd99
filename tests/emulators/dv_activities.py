# dv_activities: the Dataverse side of Campaign's email events (reference A15): one custom activity
# table per event type, as the AppSource solution "Adobe Campaign for Microsoft Dynamics 365" has them
# ("Adobe Campaign Email Send", "... Open", "... URL Click", "... Bounce"; their logical names are not
# public, these are the emulator's), each with the regarding lookup to contact, a bindable owner, and
# the event id as an alternate key; the `systemuser` table the owner points at (the application user
# the connector calls as, and a second user to assign to); and `activitypointer`, the read-only view of
# every activity row that the contact's Timeline reads (`activitypointers?$filter=_regardingobjectid_value
# eq <contactid>`), rebuilt from the activity tables whenever one of them changed.
from dv_schema import AUDIT, SYSTEM_USER_ID, SYSTEM_USER_NAME
from dv_values import dv_error

SALES_USER_ID = "00000000-0000-0000-0000-00000000a002"
SALES_USER_NAME = "Sales Representative"
LOOKUPNAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"

# event type -> (logical name, display name, label of its date column, object type code)
EMAIL_ACTIVITY_TYPES = {
    "send": ("new_acsemailsend", "Adobe Campaign Email Send", "Date Sent", 10101),
    "open": ("new_acsemailopen", "Adobe Campaign Email Open", "Date Opened", 10102),
    "click": ("new_acsemailclick", "Adobe Campaign Email URL Click", "Date Clicked", 10103),
    "bounce": ("new_acsemailbounce", "Adobe Campaign Email Bounce", "Date Bounced", 10104),
}

# the owner of an activity can be bound on create or update (an assignment); it defaults to the caller
BINDABLE_OWNER = {"name": "ownerid", "type": "Owner", "targets": ["systemuser"], "nav": {"systemuser": "ownerid"},
                  "label": "Owner"}


def activity_attributes(logical, subject_max=200):
    """The columns Dataverse gives every activity table: the activity id, the subject (its primary name),
    description, state and status, and the regarding lookup (to contact, the one table here that has
    activities, with the parental relationship of an activity to its regarding row)."""
    return [
        {"name": "activityid", "type": "Uniqueidentifier", "label": "Activity", "update": False},
        {"name": "subject", "type": "String", "max": subject_max, "label": "Subject", "required": "ApplicationRequired"},
        {"name": "description", "type": "Memo", "max": 2000, "label": "Description"},
        {"name": "statecode", "type": "State", "options": {"0": "Open", "1": "Completed", "2": "Canceled"}, "default": 0,
         "label": "Activity Status"},
        {"name": "statuscode", "type": "Status", "options": {"1": "Open", "2": "Completed", "3": "Canceled"}, "default": 1,
         "label": "Status Reason"},
        {"name": "regardingobjectid", "type": "Lookup", "targets": ["contact"],
         "nav": {"contact": "regardingobjectid_contact_" + logical}, "label": "Regarding", "cascade_delete": "Cascade"},
    ]


def activity_table(logical, schema, display, plural, otc, attributes, keys=()):
    """The spec of a custom activity table: the activity columns, `attributes`, a bindable owner."""
    return {
        "logical": logical, "set": logical + "s", "schema": schema, "id": "activityid", "name": "subject",
        "display": display, "plural": plural, "otc": otc, "ownership": "UserOwned",
        "change_tracking": True, "custom": True, "activity": True,
        "attributes": attributes + [dict(BINDABLE_OWNER)] + [dict(a) for a in AUDIT],
        "keys": [dict(k) for k in keys],
    }


def email_activity(kind):
    logical, display, date_label, otc = EMAIL_ACTIVITY_TYPES[kind]
    attrs = activity_attributes(logical) + [
        {"name": "new_campaignname", "type": "String", "max": 200, "label": "Campaign Name"},
        {"name": "new_deliveryname", "type": "String", "max": 200, "label": "Delivery Name"},
        {"name": "new_eventtime", "type": "DateTime", "label": date_label},
        {"name": "new_mirrorpageurl", "type": "String", "max": 2000, "label": "Mirror Page URL"},
        {"name": "new_acseventid", "type": "String", "max": 100, "label": "ACS Event Id"},
    ]
    if kind == "click":
        attrs.append({"name": "new_trackingurl", "type": "String", "max": 2000, "label": "Tracking URL"})
    return activity_table(logical, logical, display, display + "s", otc, attrs,
                          [{"name": "new_acseventid_key", "attributes": ["new_acseventid"]}])


DEFAULT_ACTIVITY_TABLES = [email_activity(k) for k in EMAIL_ACTIVITY_TYPES]

SYSTEM_USER = {
    "logical": "systemuser", "set": "systemusers", "schema": "SystemUser", "id": "systemuserid", "name": "fullname",
    "display": "User", "plural": "Users", "otc": 8, "ownership": "BusinessOwned", "change_tracking": False,
    "custom": False, "activity": False,
    "attributes": [
        {"name": "systemuserid", "type": "Uniqueidentifier", "label": "User", "update": False},
        {"name": "fullname", "type": "String", "max": 200, "label": "Full Name"},
        {"name": "domainname", "type": "String", "max": 1024, "label": "User Name"},
        {"name": "applicationid", "type": "Uniqueidentifier", "label": "Application ID"},
        {"name": "isdisabled", "type": "Boolean", "default": False, "label": "Status"},
    ] + AUDIT,
    "keys": [],
}

ACTIVITY_POINTER = {
    "logical": "activitypointer", "set": "activitypointers", "schema": "ActivityPointer", "id": "activityid",
    "name": "subject", "display": "Activity", "plural": "Activities", "otc": 4200, "ownership": "UserOwned",
    "change_tracking": False, "custom": False, "activity": False, "view": True,
    "attributes": [
        {"name": "activityid", "type": "Uniqueidentifier", "label": "Activity", "update": False},
        {"name": "subject", "type": "String", "max": 400, "label": "Subject", "readonly": True},
        {"name": "activitytypecode", "type": "String", "max": 100, "label": "Activity Type", "readonly": True},
        {"name": "regardingobjectid", "type": "Lookup", "targets": ["contact"], "label": "Regarding", "readonly": True},
        {"name": "ownerid", "type": "Owner", "targets": ["systemuser"], "label": "Owner", "readonly": True},
        {"name": "statecode", "type": "State", "options": {"0": "Open", "1": "Completed", "2": "Canceled"}, "default": 0,
         "label": "Activity Status", "readonly": True},
        {"name": "actualend", "type": "DateTime", "label": "Actual End", "readonly": True},
    ] + AUDIT,
    "keys": [],
}


def tables(config):
    """The specs this module adds to the store: the activity tables (config `activity_tables`, None ->
    the four email activity tables), the system users and the activity pointer view."""
    acts = config.get("activity_tables")
    return list(DEFAULT_ACTIVITY_TABLES if acts is None else acts) + [SYSTEM_USER, ACTIVITY_POINTER]


def seed_users(store):
    """The application user (the caller of every request) and a second user activities can be given to."""
    t = store.tables["systemuser"]
    for uid, name, app in ((SYSTEM_USER_ID, SYSTEM_USER_NAME, "535fb089-9ff3-47b6-9bfb-4f1264799865"),
                           (SALES_USER_ID, SALES_USER_NAME, None)):
        store.insert(t, uid, {"fullname": name, "domainname": name.lower().replace(" ", ".") + "@crmsync.example",
                              "applicationid": app, "isdisabled": False})


def _activity_tables(store):
    return [t for t in store.tables.values() if t.spec.get("activity") and not t.spec.get("view")]


def refresh(store):
    """Rebuild the activitypointer rows when an activity table changed since the last build."""
    ptr = store.tables["activitypointer"]
    sources = _activity_tables(store)
    stamp = tuple((t.logical, t.stamp) for t in sources)
    if getattr(ptr, "built_from", None) == stamp:
        return ptr
    ptr.reset()
    for t in sources:
        for rid in t.order.keys:
            row = t.rows[rid]
            p = {"activityid": rid, "subject": row.get("subject"), "activitytypecode": t.logical,
                 "statecode": row.get("statecode", 0), "actualend": row.get("actualend"),
                 "createdon": row.get("createdon"), "modifiedon": row.get("modifiedon"),
                 "versionnumber": row.get("versionnumber")}
            for lookup in ("regardingobjectid", "ownerid"):
                col = "_%s_value" % lookup
                p[col] = row.get(col)
                p[col + LOOKUPNAME] = row.get(col + LOOKUPNAME)
            ptr.rows[rid] = p
            ptr.order.add(rid)
    ptr.stamp += 1
    ptr.built_from = stamp
    return ptr


def refuse_write(method):
    """What the service answers to a write on the activity pointer: it is created through its activity."""
    op = {"POST": "Create", "PATCH": "Update", "PUT": "Update", "DELETE": "Delete"}.get(method, method)
    return dv_error(400, "The '%s' method does not support entities of type 'activitypointer'. "
                         "MessageProcessorCache returned MessageProcessor.Empty." % op, "0x80040800")
