//! The order of a run: which nodes are built, what each waits on, and who goes next.
//!
//! Workers pull ready nodes from one shared queue; a finished node releases its children or,
//! when it failed, skips all its descendants at once so the counts in the progress stay right.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

use chrono::Utc;

use super::results::{Event, NodeResult, Reporter, skipped};
use crate::compile::{Compilation, CompiledNode};
use crate::project::ResourceType;

/// Nodes this run builds: selected models that are relations, seeds, snapshots and tests.
fn runnable(c: &Compilation) -> Vec<&CompiledNode> {
    c.selected
        .iter()
        .filter_map(|id| c.nodes.get(id))
        .filter(|n| match n.resource_type {
            ResourceType::Seed
            | ResourceType::Snapshot
            | ResourceType::Test
            | ResourceType::UnitTest => true,
            ResourceType::Model => !n.is_ephemeral(),
            _ => false,
        })
        .collect()
}

/// Parents of `node` among `index`, looking through ephemeral models (they run inside their
/// readers).
fn runnable_parents(
    c: &Compilation,
    node: &CompiledNode,
    index: &HashMap<&str, usize>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack: Vec<&str> = node.depends_on.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(i) = index.get(id) {
            out.push(*i);
        } else if let Some(parent) = c.nodes.get(id).filter(|p| p.is_ephemeral()) {
            stack.extend(parent.depends_on.iter().map(String::as_str));
        }
    }
    out
}

/// In `build`, a node waits for the tests of its parents, so a failing test stops bad data
/// from flowing on. Only tests of a single node gate: a test that reads two nodes (such as
/// `relationships`) could otherwise wait on a descendant of its own.
fn gate_on_tests(nodes: &[&CompiledNode], parents: &mut [Vec<usize>]) {
    let mut tests_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (t, node) in nodes.iter().enumerate() {
        if let (ResourceType::Test, [only]) = (node.resource_type, parents[t].as_slice()) {
            tests_of.entry(*only).or_default().push(t);
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        if node.resource_type == ResourceType::Test {
            continue;
        }
        let extra: Vec<usize> = parents[i]
            .iter()
            .flat_map(|p| tests_of.get(p).into_iter().flatten().copied())
            .collect();
        parents[i].extend(extra);
    }
}

/// A unit test runs once its model's parents are built (their columns shape its inputs, as
/// in dbt) and before its model, which waits for it: a model whose logic is wrong is not
/// built (dbt's `build` does the same).
fn gate_on_unit_tests(
    nodes: &[&CompiledNode],
    index: &HashMap<&str, usize>,
    parents: &mut [Vec<usize>],
) {
    for (t, node) in nodes.iter().enumerate() {
        if node.resource_type != ResourceType::UnitTest {
            continue;
        }
        parents[t].clear();
        if let Some(plan) = &node.unit
            && let Some(&model) = index.get(plan.model_id.as_str())
        {
            parents[t] = parents[model].clone();
            parents[model].push(t);
        }
    }
}

/// The order nodes may start in: a node is ready once every node it waits on has finished
/// well; a failure skips everything downstream of it at once.
pub(super) struct Scheduler<'a> {
    pub(super) nodes: Vec<&'a CompiledNode>,
    children: Vec<Vec<usize>>,
    state: Mutex<State>,
    wake: Condvar,
    fail_fast: bool,
    pub(super) reporter: &'a dyn Reporter,
}

struct State {
    ready: VecDeque<usize>,
    waiting_on: Vec<usize>,
    results: Vec<Option<NodeResult>>,
    finished: usize,
    stopped: bool,
}

impl<'a> Scheduler<'a> {
    /// The runnable nodes of `c` with what each waits on: its parents, their tests (so bad
    /// data stops), and its unit tests.
    pub(super) fn new(c: &'a Compilation, fail_fast: bool, reporter: &'a dyn Reporter) -> Self {
        let nodes = runnable(c);
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.unique_id.as_str(), i))
            .collect();
        let mut parents: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| runnable_parents(c, n, &index))
            .collect();
        gate_on_tests(&nodes, &mut parents);
        gate_on_unit_tests(&nodes, &index, &mut parents);
        let mut children = vec![Vec::new(); nodes.len()];
        for (child, ps) in parents.iter().enumerate() {
            for p in ps {
                children[*p].push(child);
            }
        }
        let state = State {
            ready: (0..nodes.len())
                .filter(|i| parents[*i].is_empty())
                .collect(),
            waiting_on: parents.iter().map(Vec::len).collect(),
            results: vec![None; nodes.len()],
            finished: 0,
            stopped: false,
        };
        Scheduler {
            nodes,
            children,
            state: Mutex::new(state),
            wake: Condvar::new(),
            fail_fast,
            reporter,
        }
    }

    pub(super) fn total(&self) -> usize {
        self.nodes.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next ready node, waiting for one; `None` once all are done or the run stops.
    pub(super) fn next_job(&self) -> Option<usize> {
        let mut s = self.lock();
        loop {
            if s.stopped || s.finished == self.total() || crate::cancel::is_requested() {
                return None;
            }
            if let Some(i) = s.ready.pop_front() {
                return Some(i);
            }
            s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Record node `i`'s result and release its children, or skip all its descendants.
    pub(super) fn finish(&self, i: usize, result: NodeResult) {
        let mut s = self.lock();
        let ok = result.status.lets_children_run();
        self.record(&mut s, i, result);
        if ok {
            for &child in &self.children[i] {
                s.waiting_on[child] -= 1;
                if s.waiting_on[child] == 0 && s.results[child].is_none() {
                    s.ready.push_back(child);
                }
            }
        } else {
            self.skip_descendants(&mut s, i);
            s.stopped |= self.fail_fast;
        }
        self.wake.notify_all();
    }

    fn skip_descendants(&self, s: &mut State, i: usize) {
        let message = format!("skipped: upstream {} failed", self.nodes[i].name);
        let now = Utc::now();
        let mut stack = self.children[i].clone();
        while let Some(child) = stack.pop() {
            if s.results[child].is_some() {
                continue;
            }
            self.record(s, child, skipped(self.nodes[child], now, &message));
            stack.extend(self.children[child].iter().copied());
        }
    }

    fn record(&self, s: &mut State, i: usize, result: NodeResult) {
        s.finished += 1;
        self.reporter.event(Event::Finished {
            result: &result,
            index: s.finished,
            total: self.total(),
        });
        s.results[i] = Some(result);
    }

    /// Every node's result in order; a node never started is skipped with `why`.
    pub(super) fn into_results(self, why: &str) -> Vec<NodeResult> {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        let now = Utc::now();
        state
            .results
            .into_iter()
            .zip(&self.nodes)
            .map(|(r, node)| r.unwrap_or_else(|| skipped(node, now, why)))
            .collect()
    }
}
