//! Typed label sets: each set of labels a family carries is a struct declared once here,
//! so a label's name is written in one place and a family cannot be given the labels of
//! another (the catalog ties each family to its set by type).
//!
//! Label names are the field names, in exposition order; a set that extends another
//! (a backup's labels plus `url_type`) holds it as its first field.

/// A set of labels: its names (for the catalog, the docs and the client-library
/// registry) and its values in the same order.
pub trait Labels {
    /// Every label name in exposition order, optional ones included.
    fn names() -> Vec<&'static str>;
    /// Each label given a value, in exposition order.
    fn each<'s>(&'s self, f: &mut impl FnMut(&'static str, &'s str));

    /// The labels written on some series only, left out of the others.
    fn optional() -> &'static [&'static str] {
        &[]
    }

    /// The values in order, for the client library's `with_label_values`.
    fn values(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.each(&mut |_, v| out.push(v));
        out
    }
}

/// No labels.
impl Labels for () {
    fn names() -> Vec<&'static str> {
        Vec::new()
    }
    fn each<'s>(&'s self, _: &mut impl FnMut(&'static str, &'s str)) {}
}

/// Declares a label set: a struct of `&str` fields named as the labels, optionally
/// extending another set given as its first field (`base: Set`).
macro_rules! label_set {
    ($(#[$doc:meta])* $name:ident { $(..$base:ident: $bty:ident,)? $($field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            $(pub $base: $bty<'a>,)?
            $(pub $field: &'a str,)+
        }

        impl Labels for $name<'_> {
            fn names() -> Vec<&'static str> {
                #[allow(unused_mut)]
                let mut out: Vec<&'static str> = Vec::new();
                $(out.extend(<$bty<'static> as Labels>::names());)?
                out.extend([$(stringify!($field)),+]);
                out
            }
            fn each<'s>(&'s self, f: &mut impl FnMut(&'static str, &'s str)) {
                $(self.$base.each(f);)?
                $(f(stringify!($field), self.$field);)+
            }
        }
    };
}

label_set!(
    /// One instance.
    InstanceLabels { instance_uuid }
);
label_set!(
    /// One shard (a Redis cluster shard; empty for a standalone instance's backups).
    ShardLabels { instance_uuid, shard_id }
);
label_set!(
    /// One backup.
    BackupLabels { instance_uuid, backup_id, shard_id }
);
label_set!(
    /// One CDS call target: an instance (`backup_id` empty) or a named backup.
    TargetLabels { instance_uuid, backup_id }
);
label_set!(
    /// One account.
    AccountLabels { account }
);
label_set!(
    /// A shard's restore point: the backup it is.
    RestorePointLabels { ..shard: ShardLabels, backup_id }
);
label_set!(
    /// A backup's type and mode as CDS gives them.
    BackupInfoLabels { ..backup: BackupLabels, backup_type, backup_mode }
);
label_set!(
    /// One state of a backup's state set.
    BackupStateLabels { ..backup: BackupLabels, state }
);
label_set!(
    /// A backup's raw CDS status.
    BackupStatusLabels { ..backup: BackupLabels, status }
);
label_set!(
    /// One download URL of a backup.
    BackupUrlLabels { ..backup: BackupLabels, url_type }
);
label_set!(
    /// One verification level of a backup.
    BackupLevelLabels { ..backup: BackupLabels, level }
);
label_set!(
    /// One outcome of a backup's verification result set at a level.
    BackupResultLabels { ..level: BackupLevelLabels, result }
);
label_set!(
    /// What a dump says of itself.
    RdbInfoLabels { ..backup: BackupLabels, rdb_version, redis_version, format }
);
label_set!(
    /// An instance and what DescribeDBInstances tells of it.
    InstanceInfoLabels { account, instance_uuid, instance_name, sub_product, region_id, version, tags }
);
label_set!(
    /// One CDS tag of an instance.
    InstanceTagLabels { ..instance: InstanceLabels, tag }
);
label_set!(
    /// The verification level an instance is given.
    InstanceLevelLabels { ..instance: InstanceLabels, level }
);
label_set!(
    /// An instance discovery stopped listing.
    VanishedLabels { account, instance_uuid, instance_name }
);
label_set!(
    /// One CDS call's result code.
    ApiCallLabels { account, action, code }
);
label_set!(
    /// One kind of failed CDS call attempt.
    ApiErrorLabels { account, action, kind }
);
label_set!(
    /// One CDS action of an account.
    AccountActionLabels { account, action }
);
label_set!(
    /// One CDS action.
    ActionLabels { action }
);
label_set!(
    /// This replica's shard of the fleet.
    ShardInfoLabels { shard, total_shards }
);
label_set!(
    /// This build.
    BuildLabels { version, revision }
);

/// A finding of the policy engine: per shard (with the backup, URL type, result or state
/// it is about, where it is about one) or per instance (no `shard_id`). Optional labels
/// are left out rather than written empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingLabels<'a> {
    pub instance_uuid: &'a str,
    pub shard_id: Option<&'a str>,
    pub backup_id: Option<&'a str>,
    pub url_type: Option<&'a str>,
    pub result: Option<&'a str>,
    pub state: Option<&'a str>,
    pub reason: &'a str,
    pub severity: &'a str,
}

impl Labels for FindingLabels<'_> {
    fn optional() -> &'static [&'static str] {
        &["shard_id", "backup_id", "url_type", "result", "state"]
    }

    fn names() -> Vec<&'static str> {
        vec![
            "instance_uuid",
            "shard_id",
            "backup_id",
            "url_type",
            "result",
            "state",
            "reason",
            "severity",
        ]
    }

    fn each<'s>(&'s self, f: &mut impl FnMut(&'static str, &'s str)) {
        f("instance_uuid", self.instance_uuid);
        let optional = [
            ("shard_id", self.shard_id),
            ("backup_id", self.backup_id),
            ("url_type", self.url_type),
            ("result", self.result),
            ("state", self.state),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                f(name, v);
            }
        }
        f("reason", self.reason);
        f("severity", self.severity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_sets_put_the_base_first_and_names_match_values() {
        let b = BackupLabels {
            instance_uuid: "i",
            backup_id: "b",
            shard_id: "s",
        };
        let r = BackupResultLabels {
            level: BackupLevelLabels {
                backup: b,
                level: "full",
            },
            result: "ok",
        };
        assert_eq!(
            BackupResultLabels::names(),
            ["instance_uuid", "backup_id", "shard_id", "level", "result"]
        );
        assert_eq!(r.values(), ["i", "b", "s", "full", "ok"]);
        let f = FindingLabels {
            instance_uuid: "i",
            shard_id: None,
            backup_id: Some("b"),
            url_type: None,
            result: None,
            state: None,
            reason: "gone",
            severity: "warning",
        };
        let mut pairs = Vec::new();
        f.each(&mut |k, v| pairs.push((k, v)));
        assert_eq!(
            pairs,
            [
                ("instance_uuid", "i"),
                ("backup_id", "b"),
                ("reason", "gone"),
                ("severity", "warning")
            ]
        );
    }
}
