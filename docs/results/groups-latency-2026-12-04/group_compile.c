#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "compile.h"
#include "conf.h"
#include "state.h"
static const char *conf_text =
"{ \"maps_dir\": \"/tmp\", \"ldap\": { \"uris\": [\"ldap://127.0.0.1/\"] },\n"
"  \"stores\": { \"exchange\": \"smtp:[ex.example.org]:25\" },\n"
"  \"tenants\": { \"tum\": { \"base\": \"ou=tum,dc=ex\", \"domains\": [\"tum.de\"] } } }\n";
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int argc,char**argv){
  int N=argc>1?atoi(argv[1]):100000; char err[512]; FILE*f=fopen("/tmp/gb/c.json","w");fputs(conf_text,f);fclose(f);
  struct conf*c=conf_load("/tmp/gb/c.json",err,sizeof err); if(!c){puts(err);return 1;}
  struct state st; if(state_init_hint(&st,N+10)<0)return 1;
  char **mv=calloc(N,sizeof(char*));
  for(int i=0;i<N;i++){ char dn[64],m[64]; unsigned char u[16]={0}; memcpy(u,&i,4); u[8]=1;
    snprintf(dn,64,"uid=u%07d,ou=tum,dc=ex",i); snprintf(m,64,"u%07d@tum.de",i);
    char *vm[1]={m}, *vl[1]={(char*)"exchange"}; char **vp[V_NUM]={0}; size_t nv[V_NUM]={0};
    vp[V_MAIL]=vm;nv[V_MAIL]=1;vp[V_LOC]=vl;nv[V_LOC]=1;
    struct ent*e=ent_new(u,dn,(char**const*)vp,nv); comp_validate(c,e); state_put(&st,e); mv[i]=strdup(dn);}
  { unsigned char u[16]={0}; u[0]=0x77; char *ml[1]={(char*)"g0@tum.de"}, *gv[1]={(char*)"groupofnames"};
    char **vp[V_NUM]={0}; size_t nv[V_NUM]={0}; vp[V_MAIL]=ml;nv[V_MAIL]=1;vp[V_GROUP]=gv;nv[V_GROUP]=1;vp[V_MEMBER]=mv;nv[V_MEMBER]=N;
    struct ent*g=ent_new(u,"cn=g0,ou=tum,dc=ex",(char**const*)vp,nv); comp_validate(c,g); state_put(&st,g);}
  for(int k=0;k<10;k++){ struct recs r; double t0=now(); if(comp_addr(c,&st,"g0@tum.de",&r,NULL)<0)return 1; double t1=now();
    printf("comp_addr g0 (%d members): %.1f ms, %zu extras\n",N,t1-t0,r.nx); recs_free(&r);}
  { struct recs a,b; comp_addr(c,&st,"g0@tum.de",&a,NULL);
    int i=50000; char dn[64]; unsigned char u[16]={0}; memcpy(u,&i,4); u[8]=1; snprintf(dn,64,"uid=u%07d,ou=tum,dc=ex",i);
    char *vm[1]={(char*)"a.new.and.longer.address.of.u0050000@tum.de"}, *vl[1]={(char*)"exchange"}; char **vp[V_NUM]={0}; size_t nv[V_NUM]={0};
    vp[V_MAIL]=vm;nv[V_MAIL]=1;vp[V_LOC]=vl;nv[V_LOC]=1;
    struct ent*e=ent_new(u,dn,(char**const*)vp,nv); comp_validate(c,e); state_put(&st,e);
    comp_addr(c,&st,"g0@tum.de",&b,NULL);
    size_t nch=0, bytes=0;
    for(size_t x=0;x<b.nx;x++){int found=0; for(size_t y=0;y<a.nx;y++) if(!strcmp(a.x[y].key,b.x[x].key)){found=1; if(strcmp(a.x[y].val,b.x[x].val)){nch++;bytes+=strlen(b.x[x].val);}}
      if(!found){nch++;bytes+=strlen(b.x[x].val);}}
    printf("one member's new address: %zu of %zu sub-list records change (%zu bytes), group V %s\n",nch,b.nx,bytes,strcmp(a.v[2],b.v[2])?"changed":"same");}
  return 0; }
