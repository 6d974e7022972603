//! One self-contained HTML page: the SVG inline, the graph's data as JSON, and a little CSS
//! and JavaScript — drag to pan, wheel to zoom, `fit` to reset; hovering a node highlights
//! it, its links and its neighbours and shows its details (kind, owner, namespace,
//! addresses, its links with interface names) in a side panel; a click pins it. No network
//! fetch, no external script: the page works from a file, offline.
//!
//! The page is also well-formed XML (an XHTML polyglot: the script sits in a commented
//! CDATA section, the JSON has `<`, `>` and `&` escaped), so tests check it with an XML
//! parser. User text only ever reaches the page escaped, and the script shows it with
//! `textContent`, never as markup.

use serde::Serialize;

use crate::escape::{script_json, xml};
use crate::layout::layout;
use crate::model::Graph;
use crate::svg;

const CSS: &str = "\
*{box-sizing:border-box}\
html,body{margin:0;height:100%;font:14px system-ui,sans-serif;color:#1d2330;background:#fafbfc}\
body{display:flex;flex-direction:column}\
header{display:flex;gap:12px;align-items:center;padding:8px 14px;border-bottom:1px solid #dde1e7;background:#fff}\
header h1{font-size:16px;margin:0}\
header .hint{color:#6b7280;font-size:12px;flex:1}\
header button{font:inherit;padding:3px 10px;border:1px solid #c5ccd6;border-radius:5px;background:#f4f6f8;cursor:pointer}\
#wrap{flex:1;display:flex;min-height:0}\
#view{flex:1;overflow:hidden;cursor:grab;background:#fff}\
#view.drag{cursor:grabbing}\
#view svg{width:100%;height:100%;display:block}\
#info{width:300px;overflow:auto;padding:10px 14px;border-left:1px solid #dde1e7;background:#fff;font-size:13px}\
#info h2{font-size:15px;margin:4px 0}\
#info .kind{color:#6b7280}\
#info ul{padding-left:18px;margin:6px 0}\
#info li{margin:2px 0;word-break:break-all}\
svg.focus .node,svg.focus .edge{opacity:.18}\
svg.focus .node.hl,svg.focus .edge.hl{opacity:1}\
.edge.hl path{stroke:#d9480f;stroke-width:2.6}\
.node.hl rect{stroke-width:3}\
.node{cursor:pointer}";

const JS: &str = r#"(function(){
"use strict";
var data=JSON.parse(document.getElementById("graph-data").textContent);
var view=document.getElementById("view"),svg=view.querySelector("svg"),info=document.getElementById("info");
var full=svg.getAttribute("viewBox").split(" ").map(Number),vb=full.slice();
function apply(){svg.setAttribute("viewBox",vb.join(" "));}
function fit(){vb=full.slice();apply();}
document.getElementById("fit").addEventListener("click",fit);
svg.removeAttribute("width");svg.removeAttribute("height");
var drag=null;
view.addEventListener("pointerdown",function(ev){drag={x:ev.clientX,y:ev.clientY,vb:vb.slice()};view.classList.add("drag");view.setPointerCapture(ev.pointerId);});
view.addEventListener("pointermove",function(ev){if(!drag)return;var r=svg.getBoundingClientRect(),s=Math.max(vb[2]/r.width,vb[3]/r.height);vb[0]=drag.vb[0]-(ev.clientX-drag.x)*s;vb[1]=drag.vb[1]-(ev.clientY-drag.y)*s;apply();});
function end(){drag=null;view.classList.remove("drag");}
view.addEventListener("pointerup",end);view.addEventListener("pointercancel",end);
view.addEventListener("wheel",function(ev){ev.preventDefault();var r=svg.getBoundingClientRect(),s=Math.max(vb[2]/r.width,vb[3]/r.height);var mx=vb[0]+(ev.clientX-r.left)*s,my=vb[1]+(ev.clientY-r.top)*s;var k=ev.deltaY>0?1.15:1/1.15;vb=[mx-(mx-vb[0])*k,my-(my-vb[1])*k,vb[2]*k,vb[3]*k];apply();},{passive:false});
var byNode=data.nodes.map(function(){return [];});
data.edges.forEach(function(e,j){byNode[e.a].push(j);if(e.b!==e.a)byNode[e.b].push(j);});
function el(tag,text,cls){var x=document.createElement(tag);if(text!==undefined)x.textContent=text;if(cls)x.className=cls;return x;}
function show(i){
  info.textContent="";var n=data.nodes[i];
  info.appendChild(el("h2",n.label));
  info.appendChild(el("div",n.kind+(n.owner?" · "+n.owner:""),"kind"));
  if(n.details.length){var ul=el("ul");n.details.forEach(function(d){ul.appendChild(el("li",d));});info.appendChild(ul);}
  if(byNode[i].length){info.appendChild(el("h2","links"));var ul2=el("ul");
    byNode[i].forEach(function(j){var e=data.edges[j],mine=e.a===i,o=data.nodes[mine?e.b:e.a];
      var t=(mine?e.a_label:e.b_label)||"?";t+=" → "+o.label;var far=mine?e.b_label:e.a_label;if(far)t+=" ("+far+")";if(e.label)t+=" · "+e.label;t+=" ["+e.kind+"]";
      ul2.appendChild(el("li",t));});info.appendChild(ul2);}
}
function clear(){svg.classList.remove("focus");svg.querySelectorAll(".hl").forEach(function(x){x.classList.remove("hl");});}
function focus(i){clear();svg.classList.add("focus");document.getElementById("n"+i).classList.add("hl");
  byNode[i].forEach(function(j){var e=data.edges[j];document.getElementById("e"+j).classList.add("hl");
    document.getElementById("n"+e.a).classList.add("hl");document.getElementById("n"+e.b).classList.add("hl");});show(i);}
var pinned=null;
svg.querySelectorAll(".node").forEach(function(g){var i=Number(g.id.slice(1));
  g.addEventListener("mouseenter",function(){if(pinned===null)focus(i);});
  g.addEventListener("mouseleave",function(){if(pinned===null)clear();});
  g.addEventListener("pointerdown",function(ev){ev.stopPropagation();});
  g.addEventListener("click",function(){if(pinned===i){pinned=null;clear();}else{pinned=i;focus(i);}});});
})();"#;

#[derive(Serialize)]
struct NodeData<'a> {
    id: &'a str,
    label: &'a str,
    kind: &'static str,
    owner: Option<&'a str>,
    details: &'a [String],
    group: Option<&'a str>,
}

#[derive(Serialize)]
struct EdgeData<'a> {
    a: usize,
    b: usize,
    a_label: &'a str,
    b_label: &'a str,
    label: &'a str,
    kind: &'static str,
}

#[derive(Serialize)]
struct Data<'a> {
    title: &'a str,
    nodes: Vec<NodeData<'a>>,
    edges: &'a [EdgeData<'a>],
}

/// Render as a self-contained HTML page.
pub fn render(g: &Graph) -> String {
    let l = layout(g);
    let edges: Vec<EdgeData<'_>> = g
        .resolved_edges()
        .into_iter()
        .map(|(i, a, b)| {
            let e = &g.edges[i];
            EdgeData {
                a,
                b,
                a_label: &e.a_label,
                b_label: &e.b_label,
                label: &e.label,
                kind: e.kind.name(),
            }
        })
        .collect();
    let nodes: Vec<NodeData<'_>> = g
        .nodes
        .iter()
        .map(|n| NodeData {
            id: &n.id,
            label: &n.label,
            kind: n.kind.name(),
            owner: n.owner.as_deref(),
            details: &n.details,
            group: n.group.as_deref(),
        })
        .collect();
    let data = serde_json::to_string(&Data {
        title: &g.title,
        nodes,
        edges: &edges,
    })
    .unwrap_or_else(|_| "{}".into());
    let title = xml(&g.title);
    let mut out = String::with_capacity(8192 + g.nodes.len() * 600);
    out.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    out.push_str("<meta name=\"generator\" content=\"warren\"/>\n");
    out.push_str(&format!(
        "<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    ));
    out.push_str(&format!(
        "<header><h1>{title}</h1><span class=\"hint\">{} nodes, {} links · drag to pan, wheel to zoom, hover or click a node</span><button id=\"fit\" type=\"button\">fit</button></header>\n",
        g.nodes.len(),
        edges.len()
    ));
    out.push_str("<div id=\"wrap\"><div id=\"view\">");
    out.push_str(&svg::element(g, &l));
    out.push_str("</div>\n<aside id=\"info\"><p>Hover a node to see its details and links.</p></aside></div>\n");
    out.push_str("<script id=\"graph-data\" type=\"application/json\">");
    out.push_str(&script_json(&data));
    out.push_str("</script>\n<script>//<![CDATA[\n");
    out.push_str(JS);
    out.push_str("\n//]]></script>\n</body>\n</html>\n");
    out
}
