//! The dependency graph of a project: which node reads which.
//!
//! Built from the `ref` and `source` calls a discovery render captured. It orders compilation
//! and execution, finds cycles (reported as a path through the models' files), and answers
//! the ancestor and descendant questions selectors ask.

pub mod selector;

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Edges run from parent (what is read) to child (what reads it).
#[derive(Debug, Default, Clone)]
pub struct Graph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl Graph {
    pub fn new<'a>(
        ids: impl IntoIterator<Item = &'a str>,
        edges: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Graph {
        let mut g = Graph::default();
        for id in ids {
            g.add_node(id);
        }
        for (parent, child) in edges {
            let (p, c) = (g.add_node(parent), g.add_node(child));
            if !g.graph.contains_edge(p, c) {
                g.graph.add_edge(p, c, ());
            }
        }
        g
    }

    fn add_node(&mut self, id: &str) -> NodeIndex {
        if let Some(ix) = self.index.get(id) {
            return *ix;
        }
        let ix = self.graph.add_node(id.to_string());
        self.index.insert(id.to_string(), ix);
        ix
    }

    /// Every cycle, each as a closed path `[a, b, c, a]`, in a stable order.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles: Vec<Vec<String>> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.graph.contains_edge(scc[0], scc[0]))
            .map(|scc| self.cycle_path(&scc))
            .collect();
        cycles.sort();
        cycles
    }

    /// A concrete path around a strongly connected component, starting at its smallest id.
    fn cycle_path(&self, scc: &[NodeIndex]) -> Vec<String> {
        let members: HashSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc
            .iter()
            .min_by_key(|ix| &self.graph[**ix])
            .unwrap_or(&scc[0]);
        // Breadth-first from start's children back to start, staying inside the component.
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut seen = HashSet::from([start]);
        'search: while let Some(ix) = queue.pop_front() {
            let mut children: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(ix, Direction::Outgoing)
                .filter(|c| members.contains(c))
                .collect();
            children.sort_by_key(|c| &self.graph[*c]);
            for child in children {
                if child == start {
                    prev.insert(start, ix);
                    break 'search;
                }
                if seen.insert(child) {
                    prev.insert(child, ix);
                    queue.push_back(child);
                }
            }
        }
        let mut path = vec![self.graph[start].clone()];
        let mut at = prev.get(&start).copied();
        while let Some(ix) = at {
            path.push(self.graph[ix].clone());
            if ix == start {
                break;
            }
            at = prev.get(&ix).copied();
        }
        path.reverse();
        if path.len() == 1 || path.first() != path.last() {
            path.push(self.graph[start].clone());
        }
        path
    }

    /// Ids in dependency order (parents first); ties broken by id for stable output.
    /// Nodes on a cycle are left out.
    pub fn topo_order(&self) -> Vec<String> {
        let mut indegree: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|ix| {
                (
                    ix,
                    self.graph
                        .neighbors_directed(ix, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: std::collections::BTreeSet<(&str, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(ix, _)| (self.graph[*ix].as_str(), *ix))
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(first) = ready.pop_first() {
            order.push(first.0.to_string());
            for child in self.graph.neighbors_directed(first.1, Direction::Outgoing) {
                if let Some(d) = indegree.get_mut(&child) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert((self.graph[child].as_str(), child));
                    }
                }
            }
        }
        order
    }

    pub fn parents(&self, id: &str) -> Vec<String> {
        self.neighbors(id, Direction::Incoming)
    }

    pub fn children(&self, id: &str) -> Vec<String> {
        self.neighbors(id, Direction::Outgoing)
    }

    fn neighbors(&self, id: &str, dir: Direction) -> Vec<String> {
        let Some(ix) = self.index.get(id) else {
            return Vec::new();
        };
        let mut out: Vec<String> = self
            .graph
            .neighbors_directed(*ix, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        out.sort();
        out
    }

    /// Ancestors (`Incoming`) or descendants (`Outgoing`) of `id`, up to `depth` steps.
    pub fn reachable(&self, id: &str, dir: Direction, depth: Option<usize>) -> HashSet<String> {
        let mut out = HashSet::new();
        let Some(start) = self.index.get(id) else {
            return out;
        };
        let mut queue = VecDeque::from([(*start, 0usize)]);
        let mut seen = HashSet::from([*start]);
        while let Some((ix, d)) = queue.pop_front() {
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for n in self.graph.neighbors_directed(ix, dir) {
                if seen.insert(n) {
                    out.insert(self.graph[n].clone());
                    queue.push_back((n, d + 1));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycle_as_closed_path() {
        let g = Graph::new(
            ["a", "b", "c", "d"],
            [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")],
        );
        assert_eq!(g.cycles(), vec![vec!["a", "b", "c", "a"]]);
        assert_eq!(g.topo_order(), Vec::<String>::new());
    }

    #[test]
    fn self_reference_is_a_cycle() {
        let g = Graph::new(["a"], [("a", "a")]);
        assert_eq!(g.cycles(), vec![vec!["a", "a"]]);
    }

    #[test]
    fn topo_order_is_stable() {
        let g = Graph::new(["c", "b", "a"], [("a", "c"), ("b", "c")]);
        assert_eq!(g.topo_order(), vec!["a", "b", "c"]);
        assert_eq!(g.reachable("c", Direction::Incoming, None).len(), 2);
    }
}
