"""Imports every ONNX backend node test with pmc-opt: no crash allowed; counts the
cases of /tmp/listed_cases.txt that import, and those that import once their
integer inputs are bound (as the conformance runner binds them).

usage: check_node_tests.py [path/to/pmc-opt]
"""
import subprocess, os, sys, glob, onnx, collections
from onnx import numpy_helper
D='/usr/share/libonnx-testdata/data/node'
PMC=sys.argv[1] if len(sys.argv) > 1 else 'build/bin/pmc-opt'
listed=set(open('/tmp/listed_cases.txt').read().split())
crashes=[]; res={}
def run(path):
    p=subprocess.run([PMC,'import',path],capture_output=True,text=True,timeout=60)
    return p.returncode, p.stderr
for t in sorted(os.listdir(D)):
    m=os.path.join(D,t,'model.onnx')
    if not os.path.exists(m): continue
    rc,err=run(m)
    if rc not in (0,1): crashes.append((t,rc,err[-300:]))
    res[t]=(rc,err)
print('total',len(res),'crashes',len(crashes))
for c in crashes: print('CRASH',c)
ok=[t for t in listed if res.get(t,(9,''))[0]==0]
bind=[t for t in listed if res.get(t,(9,''))[0]==1 and '--bind' in res[t][1]]
other=[t for t in listed if t not in ok and t not in bind]
print('listed',len(listed),'ok',len(ok),'need-bind',len(bind),'other',len(other))
# bind: turn the non-float... inputs that the error names into initializers
bok=0; bfail=[]
for t in bind:
    m=onnx.load(os.path.join(D,t,'model.onnx'))
    ins=[i.name for i in m.graph.input if i.name not in {x.name for x in m.graph.initializer}]
    out=os.path.join(os.environ.get('TMPDIR', '/tmp'), t + '.onnx')
    for k,name in enumerate(ins):
        pb=os.path.join(D,t,'test_data_set_0',f'input_{k}.pb')
        tp=onnx.TensorProto(); tp.ParseFromString(open(pb,'rb').read())
        arr=numpy_helper.to_array(tp)
        if arr.dtype.kind in 'iu':
            tp=numpy_helper.from_array(arr,name)
            m.graph.initializer.append(tp)
    onnx.save(m,out)
    rc,err=run(out)
    if rc==0: bok+=1
    else: bfail.append((t,err.strip()[:200]))
print('need-bind that import once bound:',bok,'of',len(bind))
for f in bfail: print('BINDFAIL',f)
for t in sorted(other): print('OTHER',t,res.get(t,(9,'missing'))[1].strip()[:250])
