# dv_schema: the Dataverse tables the emulator serves: the `contact` table of reference A14 and the
# default configurable custom tables (publisher prefix `new`, lookups to contact and to each other,
# picklists with labels, a custom activity table for email events with an alternate key). A table
# definition is plain JSON, so tests and the demo can replace the custom tables through config.
# A lookup's relationship deletes as its "cascade_delete" says (one behaviour, or one per target
# table): "Cascade" (the children go with the parent), "RemoveLink" (their lookup is cleared: the
# default of a custom lookup, "Referential, Remove Link") or "Restrict" (the parent cannot be deleted
# while children exist).

SYSTEM_USER_ID = "00000000-0000-0000-0000-00000000a001"
SYSTEM_USER_NAME = "crmsync Application User"

BOOL_DNA = {"true": "Do Not Allow", "false": "Allow"}

# attributes every table has: the audit columns, and the owner and state of user-owned tables
AUDIT = [
    {"name": "createdon", "type": "DateTime", "readonly": True, "label": "Created On"},
    {"name": "modifiedon", "type": "DateTime", "readonly": True, "label": "Modified On"},
    {"name": "versionnumber", "type": "BigInt", "readonly": True, "label": "Version Number"},
]
OWNED_AUDIT = [{"name": "ownerid", "type": "Owner", "targets": ["systemuser"], "readonly": True, "label": "Owner"}] + AUDIT
ACTIVE_STATUS = [
    {"name": "statecode", "type": "State", "options": {"0": "Active", "1": "Inactive"}, "default": 0, "label": "Status"},
    {"name": "statuscode", "type": "Status", "options": {"1": "Active", "2": "Inactive"}, "default": 1, "label": "Status Reason"},
]

CONTACT = {
    "logical": "contact", "set": "contacts", "schema": "Contact", "id": "contactid",
    "name": "fullname", "display": "Contact", "plural": "Contacts", "otc": 2,
    "ownership": "UserOwned", "change_tracking": True, "custom": False, "activity": False,
    "attributes": [
        {"name": "contactid", "type": "Uniqueidentifier", "label": "Contact", "update": False},
        {"name": "firstname", "type": "String", "max": 50, "label": "First Name", "required": "Recommended"},
        {"name": "lastname", "type": "String", "max": 50, "label": "Last Name", "required": "ApplicationRequired"},
        {"name": "middlename", "type": "String", "max": 50, "label": "Middle Name"},
        {"name": "fullname", "type": "String", "max": 160, "label": "Full Name", "readonly": True},
        {"name": "emailaddress1", "type": "String", "max": 100, "label": "Email", "format": "Email"},
        {"name": "emailaddress2", "type": "String", "max": 100, "label": "Email Address 2", "format": "Email"},
        {"name": "emailaddress3", "type": "String", "max": 100, "label": "Email Address 3", "format": "Email"},
        {"name": "mobilephone", "type": "String", "max": 50, "label": "Mobile Phone"},
        {"name": "telephone1", "type": "String", "max": 50, "label": "Business Phone"},
        {"name": "jobtitle", "type": "String", "max": 100, "label": "Job Title"},
        {"name": "address1_city", "type": "String", "max": 80, "label": "Address 1: City"},
        {"name": "birthdate", "type": "DateTime", "format": "DateOnly", "label": "Birthday"},
        {"name": "donotbulkemail", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Bulk Emails"},
        {"name": "donotemail", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Emails"},
        {"name": "donotphone", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Phone Calls"},
        {"name": "donotfax", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Faxes"},
        {"name": "donotpostalmail", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Mails"},
        {"name": "donotbulkpostalmail", "type": "Boolean", "labels": {"true": "Yes", "false": "No"}, "default": False, "label": "Do not allow Bulk Mails"},
        {"name": "donotsendmm", "type": "Boolean", "labels": {"true": "Do Not Send", "false": "Send"}, "default": False, "label": "Send Marketing Materials"},
        {"name": "followemail", "type": "Boolean", "labels": {"true": "Allow", "false": "Do Not Allow"}, "default": True, "label": "Follow Email Activity"},
        {"name": "gendercode", "type": "Picklist", "options": {"1": "Male", "2": "Female"}, "label": "Gender"},
        {"name": "preferredcontactmethodcode", "type": "Picklist", "default": 1,
         "options": {"1": "Any", "2": "Email", "3": "Phone", "4": "Fax", "5": "Mail"}, "label": "Preferred Method of Contact"},
        {"name": "statecode", "type": "State", "options": {"0": "Active", "1": "Inactive"}, "default": 0, "label": "Status"},
        {"name": "statuscode", "type": "Status", "options": {"1": "Active", "2": "Inactive"}, "default": 1, "label": "Status Reason"},
        {"name": "parentcustomerid", "type": "Customer", "targets": ["contact"],
         "nav": {"contact": "parentcustomerid_contact"}, "label": "Company Name"},
    ] + OWNED_AUDIT,
    "keys": [],
}

ACTIVITY_COMMON = [
    {"name": "activityid", "type": "Uniqueidentifier", "label": "Activity", "update": False},
    {"name": "subject", "type": "String", "max": 200, "label": "Subject", "required": "ApplicationRequired"},
    {"name": "description", "type": "Memo", "max": 2000, "label": "Description"},
    {"name": "statecode", "type": "State", "options": {"0": "Open", "1": "Completed", "2": "Canceled"}, "default": 0, "label": "Activity Status"},
    {"name": "statuscode", "type": "Status", "options": {"1": "Open", "2": "Completed", "3": "Canceled"}, "default": 1, "label": "Status Reason"},
    {"name": "actualend", "type": "DateTime", "label": "Actual End"},
] + OWNED_AUDIT

EMAIL_EVENT = {
    "logical": "new_acsemailevent", "set": "new_acsemailevents", "schema": "new_acsemailevent",
    "id": "activityid", "name": "subject", "display": "Adobe Campaign Email Event",
    "plural": "Adobe Campaign Email Events", "otc": 10001, "ownership": "UserOwned",
    "change_tracking": True, "custom": True, "activity": True,
    "attributes": ACTIVITY_COMMON + [
        {"name": "regardingobjectid", "type": "Lookup", "targets": ["contact"],
         "nav": {"contact": "regardingobjectid_contact_new_acsemailevent"}, "label": "Regarding"},
        {"name": "new_eventtype", "type": "Picklist", "label": "Event Type",
         "options": {"1": "Send", "2": "Open", "3": "Click", "4": "Bounce"}},
        {"name": "new_campaignname", "type": "String", "max": 200, "label": "Campaign Name"},
        {"name": "new_deliveryname", "type": "String", "max": 200, "label": "Delivery Name"},
        {"name": "new_eventtime", "type": "DateTime", "label": "Event Time"},
        {"name": "new_trackingurl", "type": "String", "max": 2000, "label": "Tracking URL"},
        {"name": "new_mirrorpageurl", "type": "String", "max": 2000, "label": "Mirror Page URL"},
        {"name": "new_acseventid", "type": "String", "max": 100, "label": "ACS Event Id"},
    ],
    "keys": [{"name": "new_acseventid_key", "attributes": ["new_acseventid"]}],
}

MEMBERSHIP = {
    "logical": "new_membership", "set": "new_memberships", "schema": "new_Membership",
    "id": "new_membershipid", "name": "new_name", "display": "Membership", "plural": "Memberships",
    "otc": 10002, "ownership": "UserOwned", "change_tracking": True, "custom": True, "activity": False,
    "attributes": [
        {"name": "new_membershipid", "type": "Uniqueidentifier", "label": "Membership", "update": False},
        {"name": "new_name", "type": "String", "max": 100, "label": "Name", "required": "ApplicationRequired"},
        {"name": "new_membershipnumber", "type": "String", "max": 20, "label": "Membership Number"},
        {"name": "new_tier", "type": "Picklist", "label": "Tier",
         "options": {"100000000": "Bronze", "100000001": "Silver", "100000002": "Gold"}},
        {"name": "new_points", "type": "Integer", "label": "Points"},
        {"name": "new_startdate", "type": "DateTime", "format": "DateOnly", "label": "Start Date"},
        {"name": "new_contactid", "type": "Lookup", "targets": ["contact"], "nav": {"contact": "new_ContactId"}, "label": "Contact"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [{"name": "new_membershipnumber_key", "attributes": ["new_membershipnumber"]}],
}

MEMBERSHIP_CARD = {
    "logical": "new_membershipcard", "set": "new_membershipcards", "schema": "new_MembershipCard",
    "id": "new_membershipcardid", "name": "new_cardnumber", "display": "Membership Card",
    "plural": "Membership Cards", "otc": 10003, "ownership": "UserOwned", "change_tracking": True,
    "custom": True, "activity": False,
    "attributes": [
        {"name": "new_membershipcardid", "type": "Uniqueidentifier", "label": "Membership Card", "update": False},
        {"name": "new_cardnumber", "type": "String", "max": 30, "label": "Card Number"},
        {"name": "new_membershipid", "type": "Lookup", "targets": ["new_membership"],
         "nav": {"new_membership": "new_MembershipId"}, "label": "Membership"},
        {"name": "new_expireson", "type": "DateTime", "format": "DateOnly", "label": "Expires On"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [{"name": "new_cardnumber_key", "attributes": ["new_cardnumber"]}],
}

# a chain of linked custom tables (contact <- vehicle <- service), as in Adobe's worked example of a
# vehicle custom entity linked to the profile: a contact's vehicles are deleted with it (parental),
# a vehicle's services only lose their link ([I] the choice of behaviours is the emulator's)
VEHICLE = {
    "logical": "new_vehicle", "set": "new_vehicles", "schema": "new_Vehicle", "id": "new_vehicleid",
    "name": "new_name", "display": "Vehicle", "plural": "Vehicles", "otc": 10005, "ownership": "UserOwned",
    "change_tracking": True, "custom": True, "activity": False,
    "attributes": [
        {"name": "new_vehicleid", "type": "Uniqueidentifier", "label": "Vehicle", "update": False},
        {"name": "new_name", "type": "String", "max": 100, "label": "Name", "required": "ApplicationRequired"},
        {"name": "new_vin", "type": "String", "max": 17, "label": "VIN"},
        {"name": "new_model", "type": "String", "max": 100, "label": "Model"},
        {"name": "new_year", "type": "Integer", "label": "Year"},
        {"name": "new_purchasedate", "type": "DateTime", "format": "DateOnly", "label": "Purchase Date"},
        {"name": "new_price", "type": "Money", "label": "Price"},
        {"name": "new_fuel", "type": "Picklist", "label": "Fuel",
         "options": {"100000000": "Petrol", "100000001": "Diesel", "100000002": "Electric"}},
        {"name": "new_contact", "type": "Lookup", "targets": ["contact"], "nav": {"contact": "new_Contact"},
         "label": "Owner Contact", "cascade_delete": "Cascade"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [{"name": "new_vin_key", "attributes": ["new_vin"]}],
}

SERVICE = {
    "logical": "new_service", "set": "new_services", "schema": "new_Service", "id": "new_serviceid",
    "name": "new_name", "display": "Service", "plural": "Services", "otc": 10006, "ownership": "UserOwned",
    "change_tracking": True, "custom": True, "activity": False,
    "attributes": [
        {"name": "new_serviceid", "type": "Uniqueidentifier", "label": "Service", "update": False},
        {"name": "new_name", "type": "String", "max": 100, "label": "Name", "required": "ApplicationRequired"},
        {"name": "new_servicedate", "type": "DateTime", "label": "Service Date"},
        {"name": "new_mileage", "type": "Integer", "label": "Mileage"},
        {"name": "new_cost", "type": "Decimal", "label": "Cost"},
        {"name": "new_rating", "type": "Double", "label": "Rating"},
        {"name": "new_notes", "type": "Memo", "max": 2000, "label": "Notes"},
        {"name": "new_vehicle", "type": "Lookup", "targets": ["new_vehicle"], "nav": {"new_vehicle": "new_Vehicle"},
         "label": "Vehicle", "cascade_delete": "RemoveLink"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [],
}

# a table with change tracking off, to exercise the refusal of Prefer: odata.track-changes
SETTING = {
    "logical": "new_setting", "set": "new_settings", "schema": "new_Setting", "id": "new_settingid",
    "name": "new_name", "display": "Setting", "plural": "Settings", "otc": 10004,
    "ownership": "OrganizationOwned", "change_tracking": False, "custom": True, "activity": False,
    "attributes": [
        {"name": "new_settingid", "type": "Uniqueidentifier", "label": "Setting", "update": False},
        {"name": "new_name", "type": "String", "max": 100, "label": "Name"},
        {"name": "new_value", "type": "Memo", "max": 4000, "label": "Value"},
    ] + AUDIT,
    "keys": [],
}

DEFAULT_CUSTOM_TABLES = [EMAIL_EVENT, MEMBERSHIP, MEMBERSHIP_CARD, VEHICLE, SERVICE, SETTING]

# AttributeType -> (metadata @odata.type, AttributeTypeName, Edm type)
TYPE_INFO = {
    "Uniqueidentifier": ("AttributeMetadata", "UniqueidentifierType", "Edm.Guid"),
    "String": ("StringAttributeMetadata", "StringType", "Edm.String"),
    "Memo": ("MemoAttributeMetadata", "MemoType", "Edm.String"),
    "Integer": ("IntegerAttributeMetadata", "IntegerType", "Edm.Int32"),
    "BigInt": ("BigIntAttributeMetadata", "BigIntType", "Edm.Int64"),
    "Decimal": ("DecimalAttributeMetadata", "DecimalType", "Edm.Decimal"),
    "Money": ("MoneyAttributeMetadata", "MoneyType", "Edm.Decimal"),
    "Double": ("DoubleAttributeMetadata", "DoubleType", "Edm.Double"),
    "Boolean": ("BooleanAttributeMetadata", "BooleanType", "Edm.Boolean"),
    "DateTime": ("DateTimeAttributeMetadata", "DateTimeType", "Edm.DateTimeOffset"),
    "Picklist": ("PicklistAttributeMetadata", "PicklistType", "Edm.Int32"),
    "State": ("StateAttributeMetadata", "StateType", "Edm.Int32"),
    "Status": ("StatusAttributeMetadata", "StatusType", "Edm.Int32"),
    "Lookup": ("LookupAttributeMetadata", "LookupType", "Edm.Guid"),
    "Customer": ("LookupAttributeMetadata", "CustomerType", "Edm.Guid"),
    "Owner": ("LookupAttributeMetadata", "OwnerType", "Edm.Guid"),
}
LOOKUP_TYPES = ("Lookup", "Customer", "Owner")
DELETE_BEHAVIOURS = ("Cascade", "RemoveLink", "Restrict")


def cascade_delete(attr, target):
    """What deleting a row of `target` does to the rows whose lookup `attr` points at it."""
    c = attr.get("cascade_delete", "RemoveLink")
    c = c.get(target, "RemoveLink") if isinstance(c, dict) else c
    if c not in DELETE_BEHAVIOURS:
        raise ValueError("lookup %s: cascade_delete must be one of %s, not %r" % (attr["name"], DELETE_BEHAVIOURS, c))
    return c
