//! The views the app renders and the options a client picks them with.

use std::fmt;
use std::str::FromStr;

/// One topology view; its text form is the API path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViewId {
    Processes,
    ProcessesByName,
    Containers,
    ContainersByImage,
    ContainersByHostname,
    Compose,
    Hosts,
}

impl ViewId {
    pub const ALL: [ViewId; 7] = [
        ViewId::Processes,
        ViewId::ProcessesByName,
        ViewId::Containers,
        ViewId::ContainersByImage,
        ViewId::ContainersByHostname,
        ViewId::Compose,
        ViewId::Hosts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViewId::Processes => "processes",
            ViewId::ProcessesByName => "processes-by-name",
            ViewId::Containers => "containers",
            ViewId::ContainersByImage => "containers-by-image",
            ViewId::ContainersByHostname => "containers-by-hostname",
            ViewId::Compose => "compose",
            ViewId::Hosts => "hosts",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ViewId::Processes => "Processes",
            ViewId::ProcessesByName => "Processes by name",
            ViewId::Containers => "Containers",
            ViewId::ContainersByImage => "Containers by image",
            ViewId::ContainersByHostname => "Containers by hostname",
            ViewId::Compose => "Compose",
            ViewId::Hosts => "Hosts",
        }
    }

    /// Views of processes: hundreds of idle processes drown the few that talk, so they hide unconnected nodes by default.
    pub fn hides_unconnected_by_default(self) -> bool {
        matches!(self, ViewId::Processes | ViewId::ProcessesByName)
    }

    /// Views whose nodes are (groups of) containers: only they know stopped and system containers.
    pub fn shows_containers(self) -> bool {
        matches!(self, ViewId::Containers | ViewId::ContainersByImage | ViewId::ContainersByHostname | ViewId::Compose)
    }
}

impl fmt::Display for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown view {0:?}")]
pub struct UnknownView(pub String);

impl FromStr for ViewId {
    type Err = UnknownView;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ViewId::ALL.into_iter().find(|view| view.as_str() == text).ok_or_else(|| UnknownView(text.to_owned()))
    }
}

/// Which stopped containers a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Stopped {
    #[default]
    Hide,
    Show,
    Only,
}

/// A view's options; `Default` is what the API documents as defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewOptions {
    pub stopped: Stopped,
    pub show_system: bool,
    pub show_unconnected: bool,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions { stopped: Stopped::Hide, show_system: false, show_unconnected: true }
    }
}

/// One option as the API lists it.
pub struct OptionSpec {
    pub id: &'static str,
    pub values: &'static [&'static str],
    pub default: &'static str,
}

pub const OPTION_SPECS: [OptionSpec; 3] = [
    OptionSpec { id: "stopped", values: &["hide", "show", "only"], default: "hide" },
    OptionSpec { id: "system", values: &["hide", "show"], default: "hide" },
    OptionSpec { id: "unconnected", values: &["hide", "show"], default: "show" },
];

/// The options of one view with that view's defaults (processes views hide unconnected nodes).
pub fn option_specs(view: ViewId) -> [OptionSpec; 3] {
    let [stopped, system, unconnected] = OPTION_SPECS;
    let default = if view.hides_unconnected_by_default() { "hide" } else { unconnected.default };
    [stopped, system, OptionSpec { default, ..unconnected }]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad value {value:?} for option {option:?} (expected one of {expected})")]
pub struct BadOption {
    pub option: String,
    pub value: String,
    pub expected: String,
}

impl ViewOptions {
    /// What a view shows when the client names no option.
    pub fn defaults_for(view: ViewId) -> Self {
        ViewOptions { show_unconnected: !view.hides_unconnected_by_default(), ..ViewOptions::default() }
    }

    /// Parses query parameters over `view`'s defaults.
    pub fn for_view<'a>(view: ViewId, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadOption> {
        Self::over(ViewOptions::defaults_for(view), pairs)
    }

    /// Parses query parameters; unknown parameters are ignored, bad values of known ones are errors.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadOption> {
        Self::over(ViewOptions::default(), pairs)
    }

    fn over<'a>(base: ViewOptions, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadOption> {
        let mut options = base;
        for (key, value) in pairs {
            let Some(spec) = OPTION_SPECS.iter().find(|spec| spec.id == key) else { continue };
            let bad =
                || BadOption { option: key.to_owned(), value: value.to_owned(), expected: spec.values.join(", ") };
            match (key, value) {
                ("stopped", "hide") => options.stopped = Stopped::Hide,
                ("stopped", "show") => options.stopped = Stopped::Show,
                ("stopped", "only") => options.stopped = Stopped::Only,
                ("system", "hide") => options.show_system = false,
                ("system", "show") => options.show_system = true,
                ("unconnected", "hide") => options.show_unconnected = false,
                ("unconnected", "show") => options.show_unconnected = true,
                _ => return Err(bad()),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_ids_round_trip() {
        for view in ViewId::ALL {
            assert_eq!(view.as_str().parse::<ViewId>(), Ok(view));
        }
        assert!("pods".parse::<ViewId>().is_err());
    }

    #[test]
    fn options_parse() {
        assert_eq!(ViewOptions::from_pairs([]), Ok(ViewOptions::default()));
        let options = ViewOptions::from_pairs([("stopped", "only"), ("system", "show"), ("unconnected", "hide")]);
        assert_eq!(options, Ok(ViewOptions { stopped: Stopped::Only, show_system: true, show_unconnected: false }));
        assert!(ViewOptions::from_pairs([("stopped", "maybe")]).is_err());
        assert_eq!(ViewOptions::from_pairs([("other", "x")]), Ok(ViewOptions::default()));
    }

    #[test]
    fn processes_views_hide_unconnected_unless_asked() {
        for view in [ViewId::Processes, ViewId::ProcessesByName] {
            assert!(!ViewOptions::for_view(view, []).unwrap().show_unconnected);
            assert!(ViewOptions::for_view(view, [("unconnected", "show")]).unwrap().show_unconnected);
            assert_eq!(option_specs(view)[2].default, "hide");
        }
        assert!(ViewOptions::for_view(ViewId::Containers, []).unwrap().show_unconnected);
        assert_eq!(option_specs(ViewId::Hosts)[2].default, "show");
    }
}
